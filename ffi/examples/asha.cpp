// Asynchronous successive halving (ASHA, Li et al. 2018) that asks neuneu's online sweep handle
// which arms to promote, replayed on a finished sweep by a simulated pool of workers, and
// compared with plain ASHA.
//
//   asha CURVES.csv --task TASK [--metric accuracy|loss] [--eta 3] [--workers 8]
//        [--seeds 10] [--max-arms N] [--log]
//
// CURVES.csv is the long curve format (curve_file.hpp); the rows of TASK form one sweep per
// (suite, shots), each replayed once per seed (`--max-arms`: its first N arms only).
// `--metric loss` reads the values as a loss, minimized (the sweep handle forecasts it in loss
// units); the default is a bounded metric, maximized.
//
// Protocol, the same for both schedulers:
// - an arm's budget is its last checkpoint; rungs at eta^-2, eta^-1 and 1 of it. An arm
//   reaches a rung at its first checkpoint at or beyond the rung's share of its budget.
// - `--workers` workers; a free worker asks for a job (ASHA's get_job): from the highest rung
//   down, promote an arm that reached rung r, is not promoted yet and ranks in the top
//   floor(n_r / eta) of the n_r arms that reached it; else start the next arm (in an order
//   shuffled per seed); else wait.
// - a job trains its arm from its last checkpoint to the next rung; each checkpoint is
//   reported when it completes (simulated time = compute), so results arrive one at a time,
//   interleaved across workers as in a real pool.
// ASHA ranks the arms at a rung by the score each had when it arrived there. Plain ASHA's score
// is the arm's value at the rung; neuneu's is the sweep handle's forecast at the arm's own end
// from the same points (the median of `decide`; an arm too young to forecast keeps its value):
// both see the same information and promote the same number of arms. If a call fails, or the
// handle refused one of the arm's points, that arm is scored as plain ASHA would score it and
// the failure is logged. With `--log`, each promotion
// is printed with its reason.
//
// Printed per scheduler, averaged over sweeps and seeds: the compute spent as a fraction of running every
// arm to its end, how often the eventual best arm ran to its end, the mean regret (how much
// worse the best finished arm is than the best arm, in the metric's units) and the simulated
// time to finish as a fraction of running the arms one after another.
#include "curve_file.hpp"
#include "neuneu.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using curve_file::Arm;

constexpr std::size_t kRungs = 3;

struct Settings {
  std::size_t eta = 3, workers = 8;
  bool minimize = false, loss = false, log = false;
};

struct Outcome {
  double compute = 0, time = 0, regret = 0;
  bool best_finished = false;
  std::size_t fallbacks = 0;
};

// A checkpoint report: arm `arm` reached checkpoint `checkpoint` at `time`, on `worker`.
struct Event {
  double time;
  std::size_t order, worker, arm, checkpoint;
  bool operator>(const Event& o) const {
    return time != o.time ? time > o.time : order > o.order;
  }
};

// How a scheduler scores an arm when it reaches a rung (ASHA ranks the arms at a rung by the
// score each had on arrival there, so that a rung's ranking only changes by new arrivals):
// plain ASHA by its value there, neuneu by its forecast. `on_result` sees every checkpoint as
// it is reported.
class Scorer {
 public:
  virtual ~Scorer() = default;
  virtual void on_result(const Arm& arm, std::size_t checkpoint) = 0;
  virtual void on_finished(const Arm& arm) = 0;
  // Arm `arm` just reached `rung` at its checkpoint `checkpoint`.
  virtual double score(const Arm& arm, std::size_t checkpoint, std::size_t rung) = 0;
  std::string reason;  // why the last score is what it is ("" if there is nothing to say)
  std::size_t fallbacks = 0;
};

class ValueScorer : public Scorer {
 public:
  void on_result(const Arm&, std::size_t) override {}
  void on_finished(const Arm&) override {}
  double score(const Arm& arm, std::size_t checkpoint, std::size_t) override {
    return arm.value[checkpoint];
  }
};

class NeuneuScorer : public Scorer {
 public:
  NeuneuScorer(const neuneu::Engine& engine, const std::vector<Arm>& arms, const Settings& s)
      : sweep_(engine, options(s)) {
    // Each arm is forecast at its own end: its budget.
    for (const Arm& a : arms) sweep_.set_end(a.run, a.compute.back());
  }
  // A point the handle refuses (a value outside the metric) is logged; the arm is then scored
  // as plain ASHA would score it.
  void on_result(const Arm& arm, std::size_t i) override {
    try {
      sweep_.observe(arm.run, arm.compute[i], arm.value[i]);
    } catch (const neuneu::Error& e) {
      std::fprintf(stderr, "asha: %s: neuneu refused a point (%s)\n", arm.run.c_str(), e.what());
      refused_.insert(arm.run);
    }
  }
  void on_finished(const Arm& arm) override {
    try {
      sweep_.finish(arm.run);
    } catch (const neuneu::Error&) {
      // An arm the handle never accepted a point of: nothing to finish.
    }
  }
  // The forecast's median at the arm's end; an arm too young to forecast counts with its
  // value. If the call fails, plain ASHA's score, and the failure is logged.
  double score(const Arm& arm, std::size_t checkpoint, std::size_t rung) override {
    if (refused_.count(arm.run)) {
      fallbacks++;
      reason = "fallback to its value: neuneu refused one of its points";
      return arm.value[checkpoint];
    }
    try {
      neuneu::Decision d = sweep_.decide({arm.run});
      const neuneu::ArmVerdict& v = d.arms.at(0);
      reason = v.reason;
      return std::isnan(v.median) ? arm.value[checkpoint] : v.median;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "asha: %s at rung %zu: neuneu failed (%s); scoring by value\n",
                   arm.run.c_str(), rung, e.what());
      fallbacks++;
      reason = "fallback to its value";
      return arm.value[checkpoint];
    }
  }

 private:
  static neuneu::SweepOptions options(const Settings& s) {
    neuneu::SweepOptions o;
    o.metric = s.loss ? neuneu::Metric::loss()
                      : neuneu::Metric{neuneu::MetricKind::Bounded,
                                       s.minimize ? neuneu::Direction::Minimize
                                                  : neuneu::Direction::Maximize};
    o.k = 1;          // the reasons speak of the chance of being the best arm
    o.samples = 500;  // the score is the median; P(top 1) is for the reasons
    return o;
  }

  neuneu::Sweep sweep_;
  std::set<std::string> refused_;  // arms with a point the handle refused
};

// One replay of ASHA over `arms`, started in `start_order`, scoring with `scorer`.
Outcome simulate(const std::vector<Arm>& arms, const std::vector<std::size_t>& start_order,
                 Scorer& scorer, const Settings& s, const char* name) {
  const std::size_t n = arms.size();
  // rung_at[a][r]: the checkpoint where arm a reaches rung r.
  std::vector<std::array<std::size_t, kRungs>> rung_at(n);
  for (std::size_t a = 0; a < n; a++) {
    const double budget = arms[a].compute.back();
    for (std::size_t r = 0; r < kRungs; r++) {
      const double share = std::pow(double(s.eta), double(r) - double(kRungs - 1));
      const auto& c = arms[a].compute;
      std::size_t i = std::lower_bound(c.begin(), c.end(), share * budget * (1 - 1e-12)) - c.begin();
      rung_at[a][r] = std::min(i, c.size() - 1);
    }
  }
  std::vector<std::size_t> seen(n, 0);      // checkpoints reported
  std::vector<int> reached(n, -1);          // highest rung reached
  std::vector<std::array<bool, kRungs>> promoted(n);
  for (auto& p : promoted) p.fill(false);
  std::vector<std::array<double, kRungs>> score(n);  // on arrival at each rung
  std::vector<std::array<std::string, kRungs>> why(n);
  auto better = [&](double x, double y) { return s.minimize ? x < y : x > y; };
  std::vector<std::size_t> job_rung(s.workers, 0), job_arm(s.workers, 0);
  std::vector<bool> idle(s.workers, false);
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events;
  std::size_t next = 0, order = 0;
  double now = 0;

  // ASHA's get_job: a promotion from the highest rung down, else a new arm. `closing`: nothing
  // runs and no arm has finished, so the highest rung reached promotes its best arm whatever
  // its quota (else a sweep of fewer than eta^2 arms would end with no trained model).
  auto get_job = [&](std::size_t& arm, std::size_t& rung, bool closing) {
    for (std::size_t r = kRungs - 1; r-- > 0;) {
      std::vector<std::size_t> at;
      for (std::size_t a = 0; a < n; a++) {
        if (reached[a] >= int(r)) at.push_back(a);
      }
      std::size_t quota = at.size() / s.eta;
      if (closing && !at.empty()) quota = std::max<std::size_t>(quota, 1);
      if (quota == 0) continue;
      bool any = false;
      for (std::size_t a : at) any = any || !promoted[a][r];
      if (!any) continue;
      // Best first; ties to the earlier arm.
      std::stable_sort(at.begin(), at.end(),
                       [&](std::size_t x, std::size_t y) { return better(score[x][r], score[y][r]); });
      for (std::size_t i = 0; i < quota; i++) {
        const std::size_t a = at[i];
        if (promoted[a][r]) continue;
        promoted[a][r] = true;
        if (s.log) {
          std::printf("log %s t=%.4g promote %s from rung %zu (%zu/%zu)%s%s\n", name, now,
                      arms[a].run.c_str(), r, i + 1, quota, why[a][r].empty() ? "" : "; neuneu: ",
                      why[a][r].c_str());
        }
        arm = a;
        rung = r + 1;
        return true;
      }
    }
    if (next < n) {
      arm = start_order[next++];
      rung = 0;
      return true;
    }
    return false;
  };
  auto assign = [&](std::size_t w, bool closing) {
    std::size_t a = 0, r = 0;
    if (!get_job(a, r, closing)) {
      idle[w] = true;
      return;
    }
    idle[w] = false;
    job_arm[w] = a;
    job_rung[w] = r;
    const auto& c = arms[a].compute;
    const double base = seen[a] == 0 ? 0.0 : c[seen[a] - 1];
    for (std::size_t i = seen[a]; i <= rung_at[a][r]; i++) {
      events.push(Event{now + (c[i] - base), order++, w, a, i});
    }
  };

  for (std::size_t w = 0; w < s.workers; w++) assign(w, false);
  while (true) {
    if (events.empty()) {
      bool finished = false;
      for (std::size_t a = 0; a < n; a++) finished = finished || reached[a] == int(kRungs - 1);
      if (finished) break;
      assign(0, true);
      if (events.empty()) break;  // no arm ever reached a rung (no checkpoints)
    }
    const Event e = events.top();
    events.pop();
    now = e.time;
    const std::size_t a = e.arm;
    seen[a] = e.checkpoint + 1;
    scorer.on_result(arms[a], e.checkpoint);
    const std::size_t r = job_rung[e.worker];
    if (e.checkpoint != rung_at[a][r]) continue;
    reached[a] = int(r);
    if (r == kRungs - 1) {
      scorer.on_finished(arms[a]);
    } else {
      scorer.reason.clear();
      score[a][r] = scorer.score(arms[a], e.checkpoint, r);
      why[a][r] = scorer.reason;
    }
    assign(e.worker, false);
    // A rung filled up: waiting workers may have promotions now.
    for (std::size_t w = 0; w < s.workers; w++) {
      if (idle[w]) assign(w, false);
    }
  }

  double spent = 0, planned = 0;
  std::size_t best = 0;
  bool any_finished = false;
  double best_finished = 0;
  for (std::size_t a = 0; a < n; a++) {
    planned += arms[a].compute.back();
    if (seen[a] > 0) spent += arms[a].compute[seen[a] - 1];
    if (better(arms[a].value.back(), arms[best].value.back())) best = a;
    if (reached[a] == int(kRungs - 1) &&
        (!any_finished || better(arms[a].value.back(), best_finished))) {
      best_finished = arms[a].value.back();
      any_finished = true;
    }
  }
  Outcome o;
  o.compute = spent / planned;
  o.time = now / planned;
  o.best_finished = reached[best] == int(kRungs - 1);
  o.regret = any_finished ? std::fabs(arms[best].value.back() - best_finished) : NAN;
  o.fallbacks = scorer.fallbacks;
  return o;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s CURVES.csv --task TASK [--metric accuracy|loss] [--eta E] "
               "[--workers W] [--seeds S] [--max-arms N] [--log]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(argv[0]);
  Settings s;
  std::string task;
  std::size_t seeds = 10, max_arms = SIZE_MAX;
  for (int i = 2; i < argc; i++) {
    const std::string flag = argv[i];
    if (flag == "--log") {
      s.log = true;
      continue;
    }
    if (i + 1 >= argc) return usage(argv[0]);
    const std::string value = argv[++i];
    if (flag == "--task") {
      task = value;
    } else if (flag == "--metric" && (value == "loss" || value == "accuracy")) {
      s.loss = value == "loss";
      s.minimize = s.loss;
    } else if (flag == "--eta" && std::stoul(value) >= 2) {
      s.eta = std::stoul(value);
    } else if (flag == "--workers" && std::stoul(value) >= 1) {
      s.workers = std::stoul(value);
    } else if (flag == "--seeds" && std::stoul(value) >= 1) {
      seeds = std::stoul(value);
    } else if (flag == "--max-arms" && std::stoul(value) >= 2) {
      max_arms = std::stoul(value);
    } else {
      std::fprintf(stderr, "bad option %s %s\n", flag.c_str(), value.c_str());
      return usage(argv[0]);
    }
  }
  if (task.empty()) return usage(argv[0]);
  try {
    const neuneu::Engine engine = neuneu::Engine::default_model();
    const auto sweeps = curve_file::read_sweeps(argv[1], task);
    if (sweeps.empty()) throw std::runtime_error("no rows of task " + task);
    struct Total {
      const char* name;
      double compute = 0, time = 0, regret = 0, best = 0;
      std::size_t fallbacks = 0, regret_counted = 0;
    };
    Total totals[] = {{"asha"}, {"asha+neuneu"}};
    std::size_t runs = 0, fewest = SIZE_MAX, most = 0;
    for (const auto& sweep : sweeps) {
    std::vector<Arm> arms = sweep.second;
    if (arms.size() > max_arms) arms.resize(max_arms);
    fewest = std::min(fewest, arms.size());
    most = std::max(most, arms.size());
    std::vector<std::size_t> order(arms.size());
    for (std::size_t seed = 0; seed < seeds; seed++, runs++) {
      std::iota(order.begin(), order.end(), 0);
      std::mt19937_64 rng(seed);
      std::shuffle(order.begin(), order.end(), rng);
      ValueScorer plain;
      NeuneuScorer forecast(engine, arms, s);
      Scorer* scorers[] = {&plain, &forecast};
      for (std::size_t k = 0; k < 2; k++) {
        Outcome o = simulate(arms, order, *scorers[k], s, totals[k].name);
        totals[k].compute += o.compute;
        totals[k].time += o.time;
        totals[k].best += o.best_finished ? 1 : 0;
        totals[k].fallbacks += o.fallbacks;
        if (std::isfinite(o.regret)) {
          totals[k].regret += o.regret;
          totals[k].regret_counted++;
        }
      }
    }
    }
    std::printf("%s: %zu sweeps of %zu-%zu arms x %zu seeds, eta %zu, rungs at %.4g %.4g 1 of "
                "each arm's budget, %zu workers, metric %s\n",
                task.c_str(), sweeps.size(), fewest, most, seeds, s.eta,
                std::pow(double(s.eta), -2.0), 1.0 / double(s.eta), s.workers,
                s.loss ? "loss (minimized)" : "bounded (maximized)");
    for (const Total& t : totals) {
      std::printf("%-12s compute=%.4f best_finished=%.4f mean_regret=%.5f time=%.4f fallbacks=%zu\n",
                  t.name, t.compute / runs, t.best / runs,
                  t.regret_counted ? t.regret / t.regret_counted : NAN, t.time / runs, t.fallbacks);
    }
  } catch (const std::exception& e) {  // neuneu::Error and the reader's errors
    std::fprintf(stderr, "asha: %s\n", e.what());
    return 1;
  }
  return 0;
}
