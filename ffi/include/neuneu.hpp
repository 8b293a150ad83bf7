// neuneu.hpp: the C++17 API of neuneu (cargo feature `cpp`; link neuneu::static).
//
// A thin layer over the cxx bridge (ffi/src/cxx_bridge.rs): it flattens vectors of runs into
// the bridge's flat arrays, splits the flat results back, and turns every error into a
// neuneu::Error carrying the library's message. The checks themselves (layouts, runs, policy
// parameters) happen once, in Rust, for this API and the C ABI alike.
//
//   neuneu::Engine engine = neuneu::Engine::default_model();
//   std::vector<double> steps{1e9, 2e9, 4e9}, acc{0.31, 0.35, 0.38}, targets{1.6e10};
//   auto forecasts = engine.forecast({neuneu::Run{steps, acc, targets}});
//   float median = forecasts[0].quantiles[0][2];  // target 0, level 0.5
//
// Ownership: Engine owns its model (RAII, move-only). View and Run do not own: the data they
// point to must outlive the call they are passed to, nothing longer. Results are plain values.
// Thread safety: one Engine may be used by any number of threads at once (every method is
// const and the model is immutable).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// cxx's runtime header first: the generated one declares only the parts it uses itself, and
// rust::Error (what the bridge throws) is not among them.
#include "rust/cxx.h"
#include "neuneu-ffi/src/cxx_bridge.rs.h"

namespace neuneu {

// Every failure of this API: bad arguments, unusable runs (the message names the run and the
// field), unreadable bundles, and internal bugs (a caught panic).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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

// An observed curve: accuracy[i] at steps[i] (compute, increasing).
struct Curve {
  View<double> steps;
  View<double> accuracy;
};

// A curve and the steps to forecast it at.
struct Run {
  View<double> steps;
  View<double> accuracy;
  View<double> targets;
};

struct RunForecast {
  // quantiles[t][l]: the forecast at targets[t], at quantile level levels()[l].
  std::vector<std::vector<float>> quantiles;
};

struct Ranking {
  std::size_t n = 0;
  // Row-major n x n: prob_above[i * n + j] = P(run i ends above run j); NaN on the diagonal.
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
  std::size_t k = 3;
  double fraction = 0.5;
  double threshold = 0.05;
  double budget = 0.1;
  std::size_t min_observations = 0;  // arms with fewer points are kept; 0 = no minimum
  std::size_t samples = 4000;        // Monte Carlo samples of P(top k)
  std::uint64_t seed = 0;

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
  double p_top_k = 0;  // probability of finishing in the top Plan::k
  double median = 0, q10 = 0, q90 = 0;  // the forecast at the end step
  std::string reason;  // one readable line with the numbers behind the decision
};

struct Plan {
  std::size_t k = 0;
  std::vector<ArmDecision> arms;  // in input order
};

namespace detail {

template <class T>
rust::Slice<const T> slice(const std::vector<T>& v) {
  return rust::Slice<const T>(v.data(), v.size());
}

// Calls into the bridge, turning its exceptions into neuneu::Error.
template <class F>
auto call(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const rust::Error& e) {
    throw Error(e.what());
  }
}

// The flat layout of the bridge (and of the C ABI): values concatenated, offsets[n + 1].
struct Flat {
  std::vector<double> steps, accuracy, targets;
  std::vector<std::size_t> ctx{0}, tgt{0};

  void add(std::size_t i, const View<double>& s, const View<double>& a) {
    if (s.size() != a.size()) {
      throw Error("run " + std::to_string(i) + ": " + std::to_string(a.size()) +
                  " accuracy values for " + std::to_string(s.size()) + " steps");
    }
    steps.insert(steps.end(), s.begin(), s.end());
    accuracy.insert(accuracy.end(), a.begin(), a.end());
    ctx.push_back(steps.size());
  }
  void add_targets(const View<double>& t) {
    targets.insert(targets.end(), t.begin(), t.end());
    tgt.push_back(targets.size());
  }
};

inline Flat flatten(const std::vector<Run>& runs) {
  Flat f;
  for (std::size_t i = 0; i < runs.size(); i++) {
    f.add(i, runs[i].steps, runs[i].accuracy);
    f.add_targets(runs[i].targets);
  }
  return f;
}

}  // namespace detail

// A loaded model. Move-only; a moved-from Engine throws neuneu::Error when used.
// How an engine runs forecaster rows (`Engine::set_row_batching`).
enum class RowBatching { Exact, Throughput };

class Engine {
 public:
  // The model embedded in the library: no files needed.
  static Engine default_model() {
    return Engine(detail::call([] { return bridge::engine_default(); }));
  }
  // A bundle file (.nnb).
  static Engine from_file(const std::string& path) {
    return Engine(detail::call([&] {
      return bridge::engine_from_file(rust::Slice<const std::uint8_t>(
          reinterpret_cast<const std::uint8_t*>(path.data()), path.size()));
    }));
  }
  // A bundle in memory; the bytes are copied.
  static Engine from_memory(const void* data, std::size_t size) {
    return Engine(detail::call([&] {
      return bridge::engine_from_memory(
          rust::Slice<const std::uint8_t>(static_cast<const std::uint8_t*>(data), size));
    }));
  }
  static Engine from_memory(const std::vector<std::uint8_t>& bundle) {
    return from_memory(bundle.data(), bundle.size());
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

  // Forecasts each run at its targets. Throws on the first unusable run, naming it.
  std::vector<RunForecast> forecast(const std::vector<Run>& runs) const {
    detail::Flat f = detail::flatten(runs);
    rust::Vec<float> q = detail::call([&] {
      return get().forecast(detail::slice(f.steps), detail::slice(f.accuracy),
                            detail::slice(f.ctx), detail::slice(f.targets), detail::slice(f.tgt));
    });
    const std::size_t levels = get().levels().size();
    std::vector<RunForecast> out(runs.size());
    const float* p = q.data();
    for (std::size_t i = 0; i < runs.size(); i++) {
      for (std::size_t t = 0; t < runs[i].targets.size(); t++, p += levels) {
        out[i].quantiles.emplace_back(p, p + levels);
      }
    }
    return out;
  }

  // Ranks runs by their forecast at each run's last target (every run needs one).
  Ranking rank(const std::vector<Run>& runs) const {
    detail::Flat f = detail::flatten(runs);
    bridge::RankOutput r = detail::call([&] {
      return get().rank(detail::slice(f.steps), detail::slice(f.accuracy), detail::slice(f.ctx),
                        detail::slice(f.targets), detail::slice(f.tgt));
    });
    Ranking out;
    out.n = runs.size();
    out.prob_above.assign(r.prob_above.begin(), r.prob_above.end());
    out.order.assign(r.order.begin(), r.order.end());
    return out;
  }

  // A kill plan over the arms of a sweep, each forecast at end_step. Deterministic for the
  // same input and seed.
  Plan plan(const std::vector<Curve>& arms, double end_step,
            const PlanOptions& options = PlanOptions()) const {
    detail::Flat f;
    for (std::size_t i = 0; i < arms.size(); i++) f.add(i, arms[i].steps, arms[i].accuracy);
    bridge::PlanSettings s{static_cast<std::uint32_t>(options.policy),
                           options.k,
                           options.fraction,
                           options.threshold,
                           options.budget,
                           options.min_observations,
                           options.samples,
                           options.seed};
    bridge::PlanOutput p = detail::call([&] {
      return get().plan(detail::slice(f.steps), detail::slice(f.accuracy), detail::slice(f.ctx),
                        end_step, s);
    });
    Plan out;
    out.k = p.k;
    for (const bridge::ArmDecision& d : p.arms) {
      out.arms.push_back(
          ArmDecision{d.keep, d.p_top_k, d.median, d.q10, d.q90, std::string(d.reason)});
    }
    return out;
  }

 private:
  explicit Engine(rust::Box<bridge::CxxEngine> inner) : inner_(std::move(inner)) {}

  const bridge::CxxEngine& get() const {
    if (!valid_) throw Error("neuneu::Engine used after it was moved from");
    return *inner_;
  }

  rust::Box<bridge::CxxEngine> inner_;
  bool valid_ = true;
};

}  // namespace neuneu
