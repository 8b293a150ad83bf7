// neuneu.hpp: the C++17 API of neuneu (cargo feature `cpp`; link neuneu::static).
//
// A thin layer over the cxx bridge (ffi/src/cxx_bridge.rs): it flattens vectors of runs into
// the bridge's flat arrays, splits the flat results back, and turns every error into a
// neuneu::Error carrying the library's message and status code. The checks themselves
// (layouts, runs, policy parameters) happen once, in Rust, for this API and the C ABI alike.
//
//   neuneu::Engine engine = neuneu::Engine::default_model();
//   std::vector<double> steps{1e9, 2e9, 4e9}, acc{0.31, 0.35, 0.38}, targets{1.6e10};
//   auto forecasts = engine.forecast({neuneu::Run{steps, acc, targets}});
//   if (forecasts[0].ok()) float median = forecasts[0].quantiles[0][2];  // target 0, level 0.5
//
//   neuneu::SweepOptions options;             // an online sweep of a validation loss
//   options.metric = neuneu::Metric::loss();
//   options.end_step = 10000;
//   neuneu::Sweep sweep(engine, options);
//   sweep.observe("lr=1e-3", 1000, 2.31);     // as results arrive
//   for (const auto& arm : sweep.decide().arms) std::puts(arm.reason.c_str());
//
// Ownership: Engine owns its model and Sweep its state (RAII, move-only; a Sweep shares its
// engine's model, so the Engine may go first). View and Run do not own: the data they point
// to must outlive the call they are passed to, nothing longer. Results are plain values.
// Thread safety: one Engine may be used by any number of threads at once (every method is
// const and the model is immutable); a Sweep by one thread at a time.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// cxx's runtime header first: the generated one declares only the parts it uses itself, and
// rust::Error (what the bridge throws) is not among them.
#include "rust/cxx.h"
#include "neuneu-ffi/src/cxx_bridge.rs.h"

namespace neuneu {

// The status codes of the C API (neuneu_status in neuneu.h).
enum class Status : std::int32_t {
  Ok = 0,
  NullPointer = -1,
  InvalidArgument = -2,  // inconsistent arguments: sizes, options, UTF-8
  InvalidInput = -3,     // a run's data is unusable (the message names the run and the field)
  Bundle = -4,           // the model bundle is unreadable or corrupt
  Inference = -5,
  Io = -6,
  BufferTooSmall = -7,
  Cuda = -8,             // the CUDA backend was asked for and cannot run
  Panic = -99,           // a bug: a panic inside the library was caught
};

// Every failure of this API, with the library's message and its status code.
class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& what) : std::runtime_error(what), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

// Where the loss encoder runs (neuneu_backend).
enum class Backend : std::int32_t {
  Auto = 0,  // CUDA when a driver and a device are present, else the CPU
  Cpu = 1,
  Cuda = 2,  // CUDA or an Error with Status::Cuda
};

// The units of a run's values (neuneu_metric_kind, neuneu_direction). Values are forecast in
// the model's space and answered in the metric's own units.
enum class MetricKind : std::int32_t {
  Bounded = 0,  // in [0, 1]: an accuracy, a score, an error rate
  Loss = 1,     // non-negative, unbounded: a validation loss (forecast as exp(-loss))
  NegLoss = 2,  // non-positive: a loss reported negated, like neg_log_loss (usually maximized)
};
enum class Direction : std::int32_t { Maximize = 0, Minimize = 1 };

struct Metric {
  MetricKind kind = MetricKind::Bounded;
  Direction direction = Direction::Maximize;
  static Metric accuracy() { return {}; }
  static Metric loss() { return {MetricKind::Loss, Direction::Minimize}; }
  static Metric neg_loss() { return {MetricKind::NegLoss, Direction::Maximize}; }
};

// A read-only view of contiguous values (std::span is C++20): from a std::vector, a C array,
// or a pointer and a size.
template <class T>
class View {
 public:
  View() = default;
  View(const T* data, std::size_t size) : data_(data), size_(size) {}
  View(const std::vector<T>& v) : data_(v.data()), size_(v.size()) {}  // NOLINT: implicit on purpose
  template <std::size_t N>
  View(const T (&a)[N]) : data_(a), size_(N) {}  // NOLINT
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  const T* data_ = nullptr;
  std::size_t size_ = 0;
};

// An arm of a plan: values[i] at steps[i] (compute, increasing), ending at end_step (NaN: the
// plan's end step).
struct Curve {
  Curve() = default;
  Curve(View<double> steps_, View<double> values_,
        double end_step_ = std::numeric_limits<double>::quiet_NaN())
      : steps(steps_), values(values_), end_step(end_step_) {}
  View<double> steps;
  View<double> values;
  double end_step = std::numeric_limits<double>::quiet_NaN();
};

// A curve, the steps to forecast it at, and optionally the token losses of its last
// checkpoint (finite, non-negative; empty: none).
struct Run {
  Run() = default;
  Run(View<double> steps_, View<double> values_, View<double> targets_,
      View<float> token_losses_ = View<float>())
      : steps(steps_), values(values_), targets(targets_), token_losses(token_losses_) {}
  View<double> steps;
  View<double> values;
  View<double> targets;
  View<float> token_losses;
};

// One run's forecast, or why it has none: one bad run does not fail the others.
struct RunForecast {
  Status status = Status::Ok;
  std::string error;  // the library's message when status is not Ok
  // quantiles[t][l]: the forecast at targets[t], at quantile level levels()[l], in the
  // metric's units (increasing with l).
  std::vector<std::vector<float>> quantiles;
  bool ok() const { return status == Status::Ok; }
};

struct Ranking {
  std::size_t n = 0;
  // Row-major n x n: prob_above[i * n + j] = P(run i ends better than run j); NaN on the
  // diagonal.
  std::vector<double> prob_above;
  // Run indices, best first.
  std::vector<std::size_t> order;
  double p_above(std::size_t i, std::size_t j) const { return prob_above.at(i * n + j); }
};

// How a plan chooses the arms to stop (the values of neuneu_policy in neuneu.h).
enum class Policy : std::uint32_t {
  KeepTopK = 0,              // keep the k arms most likely to finish in the top k
  StopFraction = 1,          // stop floor(fraction * n) arms, the least likely
  StopBelowProbability = 2,  // stop arms with P(top k) below threshold
  StopWithinBudget = 3,      // stop the least likely while the sum of their P(top k) <= budget
};

struct PlanOptions {
  Policy policy = Policy::KeepTopK;
  std::size_t k = 3;  // capped at the arms that can still win (the reasons say so)
  double fraction = 0.5;
  double threshold = 0.05;
  double budget = 0.1;
  // Arms with fewer points are kept without being judged; 0 = the model's minimum context.
  std::size_t min_observations = 0;
  std::size_t samples = 4000;  // Monte Carlo samples of P(top k)
  std::uint64_t seed = 0;
  Metric metric;

  static PlanOptions keep_top_k(std::size_t k) {
    PlanOptions o;
    o.k = k;
    return o;
  }
  static PlanOptions stop_fraction(double fraction) {
    PlanOptions o;
    o.policy = Policy::StopFraction;
    o.fraction = fraction;
    return o;
  }
  static PlanOptions stop_below_probability(std::size_t k, double threshold) {
    PlanOptions o;
    o.policy = Policy::StopBelowProbability;
    o.k = k;
    o.threshold = threshold;
    return o;
  }
  static PlanOptions stop_within_budget(std::size_t k, double budget) {
    PlanOptions o;
    o.policy = Policy::StopWithinBudget;
    o.k = k;
    o.budget = budget;
    return o;
  }
};

struct ArmDecision {
  bool keep = true;
  // Probability of finishing in the top Plan::k; NaN for an arm too young to be judged.
  double p_top_k = 0;
  double median = 0, q10 = 0, q90 = 0;  // the forecast at the arm's end, in the metric's units
  std::string reason;  // one readable line with the numbers behind the decision
};

struct Plan {
  std::size_t k = 0;            // the k of p_top_k
  std::size_t k_requested = 0;  // the policy's k, before the cap
  std::vector<ArmDecision> arms;  // in input order
};

// Options of an online Sweep: a plan's, the end step of arms without their own (0: none), and
// whether to calibrate forecasts on the sweep's finished arms (from 5 of them; see
// neuneu_sweep_options.calibrate).
struct SweepOptions : PlanOptions {
  double end_step = 0;
  bool calibrate = false;
};

// What trees fitted on token losses read of them (neuneu_loss_summary).
enum class LossSummary : std::int32_t { MeanP = 0, PHistogram = 1 };

// Options of Sweep::adapt (see neuneu_sweep_adapt in neuneu.h).
struct AdaptOptions {
  // Share of the finished arms held out to recalibrate the bands on and score the result, in
  // [0, 1); 0 fits on every arm and scores nothing.
  double holdout = 0.2;
  std::uint64_t seed = 17;  // of the hold-out draw
  LossSummary loss_summary = LossSummary::MeanP;
  std::vector<std::uint8_t> base;  // the bundle to start from; empty: the default model
};

// A model adapted to a sweep's finished arms.
struct Adapted {
  std::vector<std::uint8_t> bundle;  // a .nnb: Engine::from_memory(bundle) loads it
  std::size_t runs_fitted = 0, runs_held_out = 0;
  // MAE of the median on the held-out arms: the adapted model's, the base's, persistence's
  // (each arm's last value); NaN when nothing was held out. Go on with the adapted model
  // where held_out_mae < base_held_out_mae.
  double held_out_mae = 0, base_held_out_mae = 0, persistence_held_out_mae = 0;
};

// What a sweep's decision says to do with an arm (neuneu_action).
enum class Action : std::int32_t { Continue = 0, Stop = 1, Finished = 2, Stopped = 3 };

struct ArmVerdict {
  std::string id;
  Action action = Action::Continue;
  // P(top k), and the forecast at the arm's end in the sweep's units; NaN where absent (arms
  // outside the plan). A finished arm's final value in all three.
  double p_top_k = 0, median = 0, q10 = 0, q90 = 0;
  double end_step = 0;  // NaN: the arm has no end step
  std::string reason;
};

struct Decision {
  std::uint64_t index = 0;  // which decision of the sweep (0 first)
  std::uint64_t seed = 0;   // the seed its plan used
  std::size_t k = 0, k_requested = 0;
  std::vector<ArmVerdict> arms;  // the arms asked about, in the order the sweep first saw them
};

namespace detail {

template <class T>
rust::Slice<const T> slice(const std::vector<T>& v) {
  return rust::Slice<const T>(v.data(), v.size());
}

inline rust::Slice<const std::uint8_t> bytes(const std::string& s) {
  return rust::Slice<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()),
                                         s.size());
}

// Calls into the bridge, turning its exceptions into neuneu::Error with the status the
// bridge left for this thread.
template <class F>
auto call(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const rust::Error& e) {
    throw Error(static_cast<Status>(bridge::last_status()), e.what());
  }
}

// The flat layout of the bridge (and of the C ABI): values concatenated, offsets[n + 1].
struct Flat {
  std::vector<double> steps, values, targets;
  std::vector<std::size_t> ctx{0}, tgt{0};
  std::vector<float> losses;
  std::vector<std::size_t> loss_offsets{0};

  void add(std::size_t i, const View<double>& s, const View<double>& v) {
    if (s.size() != v.size()) {
      throw Error(Status::InvalidArgument,
                  "run " + std::to_string(i) + ": " + std::to_string(v.size()) +
                      " values for " + std::to_string(s.size()) + " steps");
    }
    steps.insert(steps.end(), s.begin(), s.end());
    values.insert(values.end(), v.begin(), v.end());
    ctx.push_back(steps.size());
  }
  void add_targets(const View<double>& t) {
    targets.insert(targets.end(), t.begin(), t.end());
    tgt.push_back(targets.size());
  }
  void add_losses(const View<float>& l) {
    losses.insert(losses.end(), l.begin(), l.end());
    loss_offsets.push_back(losses.size());
  }
};

inline Flat flatten(const std::vector<Run>& runs) {
  Flat f;
  bool any_losses = false;
  for (std::size_t i = 0; i < runs.size(); i++) {
    f.add(i, runs[i].steps, runs[i].values);
    f.add_targets(runs[i].targets);
    f.add_losses(runs[i].token_losses);
    any_losses = any_losses || runs[i].token_losses.size() > 0;
  }
  if (!any_losses) f.loss_offsets.clear();  // the bridge's "no token losses"
  return f;
}

inline bridge::PlanSettings settings(const PlanOptions& o) {
  return bridge::PlanSettings{static_cast<std::int32_t>(o.policy),
                              o.k,
                              o.fraction,
                              o.threshold,
                              o.budget,
                              o.min_observations,
                              o.samples,
                              o.seed,
                              static_cast<std::int32_t>(o.metric.kind),
                              static_cast<std::int32_t>(o.metric.direction)};
}

}  // namespace detail

// A loaded model. Move-only; a moved-from Engine throws neuneu::Error when used.
// How an engine runs forecaster rows (`Engine::set_row_batching`).
enum class RowBatching { Exact, Throughput };

class Engine {
 public:
  // The model embedded in the library: no files needed.
  static Engine default_model(Backend backend = Backend::Auto) {
    return Engine(detail::call(
        [&] { return bridge::engine_default(static_cast<std::int32_t>(backend)); }));
  }
  // A bundle file (.nnb).
  static Engine from_file(const std::string& path, Backend backend = Backend::Auto) {
    return Engine(detail::call([&] {
      return bridge::engine_from_file(detail::bytes(path), static_cast<std::int32_t>(backend));
    }));
  }
  // A bundle in memory; the bytes are copied.
  static Engine from_memory(const void* data, std::size_t size, Backend backend = Backend::Auto) {
    return Engine(detail::call([&] {
      return bridge::engine_from_memory(
          rust::Slice<const std::uint8_t>(static_cast<const std::uint8_t*>(data), size),
          static_cast<std::int32_t>(backend));
    }));
  }
  static Engine from_memory(const std::vector<std::uint8_t>& bundle,
                            Backend backend = Backend::Auto) {
    return from_memory(bundle.data(), bundle.size(), backend);
  }

  Engine(Engine&& other) noexcept : inner_(std::move(other.inner_)), valid_(other.valid_) {
    other.valid_ = false;
  }
  Engine& operator=(Engine&& other) noexcept {
    if (this != &other) {
      inner_ = std::move(other.inner_);
      valid_ = other.valid_;
      other.valid_ = false;
    }
    return *this;
  }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // The quantile levels of every forecast, increasing (5 for the default model).
  std::vector<float> levels() const {
    rust::Vec<float> l = get().levels();
    return std::vector<float>(l.begin(), l.end());
  }
  // The fewest observed points a curve needs to be forecast.
  std::size_t min_context() const { return get().min_context(); }
  // How forecaster rows run from now on (Exact until set). Exact: a run's forecast never
  // depends on the rest of its request. Throughput: rows of the same short context length run
  // several at a time, 1.2-2.7x faster per row at 30 points and fewer; a forecast may differ in
  // its last bits (about 1e-7) with the rest of its request. Safe while other threads use the
  // engine.
  void set_row_batching(RowBatching mode) const {
    get().set_throughput(mode == RowBatching::Throughput);
  }
  // The model's manifest as JSON.
  std::string manifest_json() const {
    return std::string(detail::call([&] { return get().manifest_json(); }));
  }

  // Forecasts each run at its targets, in the units of `metric`. One result per run: a run
  // whose data is unusable has its status and message (naming the run and the field), and
  // the others their forecasts. Throws only when the call as a whole is wrong (a run with
  // fewer values than steps, an unknown metric).
  std::vector<RunForecast> forecast(const std::vector<Run>& runs,
                                    Metric metric = Metric::accuracy()) const {
    detail::Flat f = detail::flatten(runs);
    rust::Vec<bridge::RunOutput> results = detail::call([&] {
      return get().forecast(detail::slice(f.steps), detail::slice(f.values),
                            detail::slice(f.ctx), detail::slice(f.targets), detail::slice(f.tgt),
                            detail::slice(f.losses), detail::slice(f.loss_offsets),
                            static_cast<std::int32_t>(metric.kind),
                            static_cast<std::int32_t>(metric.direction));
    });
    const std::size_t levels = get().levels().size();
    std::vector<RunForecast> out(runs.size());
    for (std::size_t i = 0; i < runs.size(); i++) {
      const bridge::RunOutput& r = results[i];
      out[i].status = static_cast<Status>(r.status);
      out[i].error = std::string(r.message);
      const float* p = r.quantiles.data();
      for (std::size_t t = 0; r.status == 0 && t < runs[i].targets.size(); t++, p += levels) {
        out[i].quantiles.emplace_back(p, p + levels);
      }
    }
    return out;
  }

  // Ranks runs by their forecast at each run's last target (every run needs one): "above"
  // means better under `metric`. Throws if any run is unusable.
  Ranking rank(const std::vector<Run>& runs, Metric metric = Metric::accuracy()) const {
    detail::Flat f = detail::flatten(runs);
    bridge::RankOutput r = detail::call([&] {
      return get().rank(detail::slice(f.steps), detail::slice(f.values), detail::slice(f.ctx),
                        detail::slice(f.targets), detail::slice(f.tgt),
                        static_cast<std::int32_t>(metric.kind),
                        static_cast<std::int32_t>(metric.direction));
    });
    Ranking out;
    out.n = runs.size();
    out.prob_above.assign(r.prob_above.begin(), r.prob_above.end());
    out.order.assign(r.order.begin(), r.order.end());
    return out;
  }

  // A kill plan over the arms of a sweep, each forecast at its own end_step if it has one,
  // else at `end_step`. Arms too young to judge are kept; k is capped at the arms judged.
  // Deterministic for the same input and seed.
  Plan plan(const std::vector<Curve>& arms, double end_step,
            const PlanOptions& options = PlanOptions()) const {
    detail::Flat f;
    std::vector<double> ends;
    bool own_ends = false;
    for (std::size_t i = 0; i < arms.size(); i++) {
      f.add(i, arms[i].steps, arms[i].values);
      own_ends = own_ends || !std::isnan(arms[i].end_step);
      ends.push_back(std::isnan(arms[i].end_step) ? end_step : arms[i].end_step);
    }
    if (!own_ends) ends.clear();
    bridge::PlanSettings s = detail::settings(options);
    bridge::PlanOutput p = detail::call([&] {
      return get().plan(detail::slice(f.steps), detail::slice(f.values), detail::slice(f.ctx),
                        end_step, detail::slice(ends), s);
    });
    Plan out;
    out.k = p.k;
    out.k_requested = p.k_requested;
    for (const bridge::ArmDecision& d : p.arms) {
      out.arms.push_back(
          ArmDecision{d.keep, d.p_top_k, d.median, d.q10, d.q90, std::string(d.reason)});
    }
    return out;
  }

 private:
  explicit Engine(rust::Box<bridge::CxxEngine> inner) : inner_(std::move(inner)) {}

  const bridge::CxxEngine& get() const {
    if (!valid_) throw Error(Status::InvalidArgument, "neuneu::Engine used after it was moved from");
    return *inner_;
  }

  rust::Box<bridge::CxxEngine> inner_;
  bool valid_ = true;

  friend class Sweep;
};

// An online sweep (see neuneu_sweep_new in neuneu.h for what it does with every state of an
// arm). Move-only; a moved-from Sweep throws neuneu::Error when used. One thread at a time.
class Sweep {
 public:
  explicit Sweep(const Engine& engine, const SweepOptions& options = SweepOptions())
      : inner_(detail::call([&] {
          return bridge::sweep_new(engine.get(), detail::settings(options), options.end_step,
                                   options.calibrate);
        })) {}

  // Restores a sweep from save(); `engine` must hold the model it was saved with.
  static Sweep load(const Engine& engine, const std::string& saved) {
    return Sweep(detail::call([&] { return bridge::sweep_load(engine.get(), detail::bytes(saved)); }));
  }

  Sweep(Sweep&& other) noexcept : inner_(std::move(other.inner_)), valid_(other.valid_) {
    other.valid_ = false;
  }
  Sweep& operator=(Sweep&& other) noexcept {
    if (this != &other) {
      inner_ = std::move(other.inner_);
      valid_ = other.valid_;
      other.valid_ = false;
    }
    return *this;
  }
  Sweep(const Sweep&) = delete;
  Sweep& operator=(const Sweep&) = delete;

  // Records `value` at `step` for `arm` (created on its first point); the same point twice is
  // a no-op. A bad point throws, naming the arm, and leaves the sweep as it was.
  void observe(const std::string& arm, double step, double value) {
    detail::call([&] { get().observe(detail::bytes(arm), step, value); });
  }
  // The token losses of `arm`'s checkpoint at `step` (a point already observed): forecasts from
  // a context ending there read them. Bad losses, or an unknown arm or step, throw.
  void observe_losses(const std::string& arm, double step, View<float> losses) {
    detail::call([&] {
      get().observe_losses(detail::bytes(arm), step,
                           rust::Slice<const float>(losses.data(), losses.size()));
    });
  }
  void set_end(const std::string& arm, double end_step) {
    detail::call([&] { get().set_end(detail::bytes(arm), end_step); });
  }
  // Its last value is final.
  void finish(const std::string& arm) {
    detail::call([&] { get().finish(detail::bytes(arm)); });
  }
  // Stopped by the scheduler: no further part.
  void stop(const std::string& arm) {
    detail::call([&] { get().stop(detail::bytes(arm)); });
  }

  // Decides for every live arm.
  Decision decide() { return decide_impl(true, {}); }
  // Decides for the arms named (any state), e.g. those that reached a rung.
  Decision decide(const std::vector<std::string>& arms) { return decide_impl(false, arms); }

  // The forecast of `arm` at `steps` in the sweep's units: [step][level].
  std::vector<std::vector<double>> forecast(const std::string& arm,
                                            const std::vector<double>& steps) const {
    rust::Vec<double> q = detail::call([&] {
      return get().forecast(detail::bytes(arm), detail::slice(steps));
    });
    std::vector<std::vector<double>> out;
    const std::size_t levels = steps.empty() ? 0 : q.size() / steps.size();
    for (std::size_t i = 0; i < steps.size(); i++) {
      out.emplace_back(q.data() + i * levels, q.data() + (i + 1) * levels);
    }
    return out;
  }

  // The sweep as versioned JSON text, for Sweep::load.
  std::string save() const {
    rust::Vec<std::uint8_t> bytes = get().save();
    return std::string(bytes.begin(), bytes.end());
  }

  // A model adapted to the sweep's finished arms (neuneu adapt's recipe: see
  // neuneu_sweep_adapt). Throws with fewer than 5 finished arms to learn from, saying how many
  // there are. Seconds for a few dozen arms.
  Adapted adapt(const AdaptOptions& options = AdaptOptions()) const {
    bridge::AdaptedOutput a = detail::call([&] {
      return get().adapt(detail::slice(options.base), options.holdout, options.seed,
                         static_cast<std::int32_t>(options.loss_summary));
    });
    return Adapted{std::vector<std::uint8_t>(a.bundle.begin(), a.bundle.end()),
                   a.runs_fitted,
                   a.runs_held_out,
                   a.held_out_mae,
                   a.base_held_out_mae,
                   a.persistence_held_out_mae};
  }

  // Goes on with `engine`'s model (an adapted one, say): the next decisions and forecasts use
  // it; the arms and the decision count stay. A sweep saved from then on loads with it.
  void set_engine(const Engine& engine) { get().set_engine(engine.get()); }

 private:
  explicit Sweep(rust::Box<bridge::CxxSweep> inner) : inner_(std::move(inner)) {}

  Decision decide_impl(bool all, const std::vector<std::string>& arms) {
    std::string names;
    std::vector<std::size_t> offsets{0};
    for (const std::string& a : arms) {
      names += a;
      offsets.push_back(names.size());
    }
    bridge::DecisionOutput d = detail::call([&] {
      return get().decide(all, detail::bytes(names), detail::slice(offsets));
    });
    Decision out;
    out.index = d.index;
    out.seed = d.seed;
    out.k = d.k;
    out.k_requested = d.k_requested;
    for (const bridge::Verdict& v : d.arms) {
      out.arms.push_back(ArmVerdict{std::string(v.id), static_cast<Action>(v.action), v.p_top_k,
                                    v.median, v.q10, v.q90, v.end_step, std::string(v.reason)});
    }
    return out;
  }

  bridge::CxxSweep& get() const {
    if (!valid_) throw Error(Status::InvalidArgument, "neuneu::Sweep used after it was moved from");
    return *inner_;
  }

  // mutable: the bridge's read-only methods take the sweep by reference like its others.
  mutable rust::Box<bridge::CxxSweep> inner_;
  bool valid_ = true;
};

}  // namespace neuneu
