//! Input checks: a run's curve and targets, and its token losses. Each refusal names the field;
//! the caller adds the run.

use crate::inference::forecast::CurvePrefix;

/// Largest loss vector accepted: bounds the memory a request can make us allocate.
pub const MAX_LOSS_VALUES: usize = 50_000_000;

/// Why an input was refused: the field and a reason; the caller adds the run's name
/// (`Error::InvalidInput`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InputProblem {
    pub field: &'static str,
    pub reason: String,
}

impl InputProblem {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        InputProblem {
            field,
            reason: reason.into(),
        }
    }
}

fn problem(field: &'static str, reason: impl Into<String>) -> InputProblem {
    InputProblem::new(field, reason)
}

/// Checks a run's observed curve and targets; `min_context` is the fewest points accepted.
pub fn validate_prefix(p: &CurvePrefix<'_>, min_context: usize) -> Result<(), InputProblem> {
    if p.steps.len() != p.accuracy.len() {
        return Err(problem(
            "accuracy",
            format!("{} values for {} steps", p.accuracy.len(), p.steps.len()),
        ));
    }
    if p.steps.is_empty() {
        return Err(problem(
            "steps",
            "empty context: at least one observation is needed",
        ));
    }
    if p.steps.len() < min_context {
        return Err(problem(
            "steps",
            format!(
                "context too short: {} points, the model needs at least {min_context}",
                p.steps.len()
            ),
        ));
    }
    for (i, &s) in p.steps.iter().enumerate() {
        if !s.is_finite() || s < 0.0 {
            return Err(problem(
                "steps",
                format!("steps[{i}] = {s} is not a finite value >= 0"),
            ));
        }
        if i > 0 && s <= p.steps[i - 1] {
            return Err(problem(
                "steps",
                format!("not increasing: steps[{i}] = {s} after {}", p.steps[i - 1]),
            ));
        }
    }
    let last = *p.steps.last().unwrap();
    if last <= 0.0 {
        return Err(problem("steps", "the last observed step must be positive"));
    }
    for (i, &a) in p.accuracy.iter().enumerate() {
        if !(0.0..=1.0).contains(&a) {
            return Err(problem(
                "accuracy",
                format!("accuracy[{i}] = {a} is outside [0, 1]"),
            ));
        }
    }
    if p.targets.is_empty() {
        return Err(problem("target_steps", "no target steps to forecast"));
    }
    for (i, &t) in p.targets.iter().enumerate() {
        if !t.is_finite() || t <= last {
            return Err(problem(
                "target_steps",
                format!("target_steps[{i}] = {t} is not after the last observed step {last}"),
            ));
        }
    }
    Ok(())
}

/// Checks token losses: finite or +inf (capped), never NaN or negative, never empty.
pub fn validate_losses(losses: &[f32]) -> Result<(), InputProblem> {
    if losses.is_empty() {
        return Err(problem("token_losses", "empty loss vector"));
    }
    if losses.len() > MAX_LOSS_VALUES {
        return Err(problem(
            "token_losses",
            format!(
                "{} values, more than the {MAX_LOSS_VALUES} accepted",
                losses.len()
            ),
        ));
    }
    if let Some((i, v)) = losses
        .iter()
        .enumerate()
        .find(|(_, v)| v.is_nan() || **v < 0.0)
    {
        return Err(problem(
            "token_losses",
            format!("token_losses[{i}] = {v} is NaN or negative"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::features::tests::prefix;

    #[test]
    fn validation_names_the_field() {
        let ok = prefix(&[0.0, 10.0, 20.0], &[0.2, 0.3, 0.4], &[40.0]);
        assert!(validate_prefix(&ok, 2).is_ok());
        let cases: [(CurvePrefix, &str); 8] = [
            (prefix(&[], &[], &[1.0]), "steps"),
            (prefix(&[1.0], &[0.2], &[2.0]), "steps"),
            (prefix(&[2.0, 1.0], &[0.2, 0.3], &[4.0]), "steps"),
            (prefix(&[1.0, f64::NAN], &[0.2, 0.3], &[4.0]), "steps"),
            (prefix(&[1.0, 2.0], &[0.2, 1.3], &[4.0]), "accuracy"),
            (prefix(&[1.0, 2.0], &[0.2], &[4.0]), "accuracy"),
            (prefix(&[1.0, 2.0], &[0.2, 0.3], &[2.0]), "target_steps"),
            (prefix(&[1.0, 2.0], &[0.2, f64::NAN], &[4.0]), "accuracy"),
        ];
        for (p, field) in cases {
            assert_eq!(validate_prefix(&p, 2).unwrap_err().field, field, "{p:?}");
        }
    }

    #[test]
    fn bad_losses_are_refused() {
        assert!(validate_losses(&[]).is_err());
        assert!(validate_losses(&[0.1, f32::NAN]).is_err());
        assert!(validate_losses(&[0.1, -0.5]).is_err());
        assert!(validate_losses(&[0.1, f32::INFINITY]).is_ok());
    }
}
