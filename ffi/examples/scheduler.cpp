// A successive-halving scheduler that asks neuneu which arms to stop, replayed on a finished
// sweep file and compared with plain successive halving.
//
//   scheduler CURVES.csv [--max-sweeps N] [--eta E]
//
// CURVES.csv is the long curve format (suite,run,shots,task,step,tokens,acc,...), for example
// ../shared/data/pythia-dev.csv. Each (suite, shots, task) is one sweep with one arm per run
// (runs in id order); compute is the `tokens` column and the metric is `acc`. The protocol is
// that of `neuneu replay` (src/eval/replay/):
// - rungs at 20/40/60/80% of each arm's planned compute (its last checkpoint); at a rung an
//   arm has seen every checkpoint at or below that share;
// - at each rung, among the alive arms with enough points to forecast (engine.min_context()),
//   both schedulers keep ceil(n / eta) and stop the rest, so they stop the same number of arms
//   and their compute is comparable: plain halving keeps the best last values, neuneu keeps
//   the arms most likely to finish in the top ceil(n / eta) (a keep-top-k plan, each arm
//   forecast at the sweep's end);
// - a stopped arm has spent the compute of its last seen checkpoint, a survivor its plan.
// Printed per scheduler, averaged over sweeps: compute spent as a fraction of running every
// arm to its end, how often the eventual best arm survived, and the mean regret (best final
// value minus the best final value among survivors).
#include "curve_file.hpp"
#include "neuneu.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using curve_file::Arm;

struct Outcome {
  double compute_fraction = 0, regret = 0;
  bool best_survived = false;
};

// Which of the judged arms to keep at a rung (indices into `judged`).
using Chooser = std::vector<bool> (*)(const neuneu::Engine&, const std::vector<neuneu::Curve>&,
                                      double end, std::size_t keep);

std::vector<bool> halving(const neuneu::Engine&, const std::vector<neuneu::Curve>& arms, double,
                          std::size_t keep) {
  std::vector<std::size_t> order(arms.size());
  for (std::size_t i = 0; i < order.size(); i++) order[i] = i;
  // Stable, so equal last values keep the earlier arm.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return arms[a].values.end()[-1] > arms[b].values.end()[-1];
  });
  std::vector<bool> kept(arms.size(), false);
  for (std::size_t i = 0; i < keep; i++) kept[order[i]] = true;
  return kept;
}

std::vector<bool> neuneu_plan(const neuneu::Engine& engine,
                              const std::vector<neuneu::Curve>& arms, double end,
                              std::size_t keep) {
  neuneu::Plan plan = engine.plan(arms, end, neuneu::PlanOptions::keep_top_k(keep));
  std::vector<bool> kept;
  for (const neuneu::ArmDecision& d : plan.arms) kept.push_back(d.keep);
  return kept;
}

Outcome replay(const neuneu::Engine& engine, const std::vector<Arm>& arms, Chooser choose,
               std::size_t eta) {
  const double rungs[] = {0.2, 0.4, 0.6, 0.8};
  const std::size_t n = arms.size();
  std::vector<bool> alive(n, true);
  std::vector<std::size_t> seen(n, 0);
  double end = 0;
  for (const Arm& a : arms) end = std::max(end, a.compute.back());
  for (double fraction : rungs) {
    std::vector<std::size_t> judged;
    std::vector<neuneu::Curve> curves;
    for (std::size_t i = 0; i < n; i++) {
      if (!alive[i]) continue;
      const double budget = fraction * arms[i].compute.back();
      seen[i] = std::upper_bound(arms[i].compute.begin(), arms[i].compute.end(), budget) -
                arms[i].compute.begin();
      if (seen[i] >= engine.min_context()) {
        judged.push_back(i);
        curves.push_back({neuneu::View<double>(arms[i].compute.data(), seen[i]),
                          neuneu::View<double>(arms[i].value.data(), seen[i])});
      }
    }
    if (judged.size() < 2) continue;
    const std::size_t keep = (judged.size() + eta - 1) / eta;
    std::vector<bool> kept = choose(engine, curves, end, keep);
    for (std::size_t j = 0; j < judged.size(); j++) alive[judged[j]] = alive[judged[j]] && kept[j];
  }
  double spent = 0, planned = 0, best = -INFINITY, best_kept = -INFINITY;
  for (std::size_t i = 0; i < n; i++) {
    planned += arms[i].compute.back();
    spent += alive[i] ? arms[i].compute.back() : arms[i].compute[seen[i] - 1];
    best = std::max(best, arms[i].value.back());
    if (alive[i]) best_kept = std::max(best_kept, arms[i].value.back());
  }
  Outcome o;
  o.compute_fraction = spent / planned;
  o.best_survived = best_kept == best;
  // No survivor: the sweep delivered nothing.
  o.regret = std::isfinite(best_kept) ? best - best_kept : best;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CURVES.csv [--max-sweeps N] [--eta E]\n", argv[0]);
    return 2;
  }
  std::size_t max_sweeps = SIZE_MAX, eta = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::size_t value = std::strtoul(argv[i + 1], nullptr, 10);
    if (flag == "--max-sweeps") {
      max_sweeps = value;
    } else if (flag == "--eta" && value >= 2) {
      eta = value;
    } else {
      std::fprintf(stderr, "bad option %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
  }
  try {
    const neuneu::Engine engine = neuneu::Engine::default_model();
    const auto sweeps = curve_file::read_sweeps(argv[1]);
    struct Total {
      const char* name;
      Chooser choose;
      double compute = 0, regret = 0, best = 0;
    };
    Total totals[] = {{"successive_halving", halving}, {"neuneu", neuneu_plan}};
    std::size_t counted = 0, fewest = SIZE_MAX, most = 0;
    for (const auto& [key, arms] : sweeps) {
      if (counted == max_sweeps) break;
      if (arms.size() < 4) continue;  // too small to halve twice
      counted++;
      fewest = std::min(fewest, arms.size());
      most = std::max(most, arms.size());
      for (Total& t : totals) {
        Outcome o = replay(engine, arms, t.choose, eta);
        t.compute += o.compute_fraction;
        t.regret += o.regret;
        t.best += o.best_survived ? 1 : 0;
      }
    }
    if (counted == 0) throw std::runtime_error("no sweep with at least 4 arms");
    std::printf("%zu sweeps (%zu-%zu arms), rungs at 0.2 0.4 0.6 0.8 of planned compute, eta %zu\n",
                counted, fewest, most, eta);
    for (const Total& t : totals) {
      std::printf("%-18s compute=%.4f best_survived=%.4f mean_regret=%.5f\n", t.name,
                  t.compute / counted, t.best / counted, t.regret / counted);
    }
  } catch (const std::exception& e) {  // neuneu::Error and the reader's errors
    std::fprintf(stderr, "scheduler: %s\n", e.what());
    return 1;
  }
  return 0;
}
