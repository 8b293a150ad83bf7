// Exercises every method of ffi/include/neuneu.hpp, each error path as a neuneu::Error with
// the library's message, a provoked panic, moves, and 4 threads sharing one engine.
// Built by ffi/CMakeLists.txt and run by ffi/tests/cpp_api.rs (also under valgrind).
// Exit status 0 = every check passed.
#include "neuneu.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

static int failures = 0;
#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
      failures++;                                                                \
    }                                                                            \
  } while (0)

// Runs f, which must throw neuneu::Error with a message containing every one of `parts`.
template <class F>
static void expect_error(const char* what, F f, std::vector<std::string> parts) {
  try {
    f();
    std::fprintf(stderr, "FAIL %s: no exception\n", what);
    failures++;
  } catch (const neuneu::Error& e) {
    for (const std::string& p : parts) {
      if (std::string(e.what()).find(p) == std::string::npos) {
        std::fprintf(stderr, "FAIL %s: message \"%s\" lacks \"%s\"\n", what, e.what(), p.c_str());
        failures++;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL %s: wrong exception type: %s\n", what, e.what());
    failures++;
  }
}

int main(int argc, char** argv) {
  neuneu::Engine engine = neuneu::Engine::default_model();

  const std::vector<float> levels = engine.levels();
  CHECK(levels.size() == 5);
  CHECK(std::fabs(levels[2] - 0.5f) < 1e-6f);
  CHECK(engine.min_context() >= 1);
  const std::string manifest = engine.manifest_json();
  CHECK(manifest.size() > 100 && manifest[0] == '{');

  // Forecasts: two runs, one with two targets; a C array, vectors.
  const double s0[] = {1000, 2000, 4000, 8000};
  const double a0[] = {0.30, 0.33, 0.36, 0.38};
  const double t0[] = {16000, 64000};
  std::vector<double> s1{1000, 3000, 9000}, a1{0.25, 0.27, 0.31}, t1{27000};
  std::vector<neuneu::Run> runs{{s0, a0, t0}, {s1, a1, t1}};
  std::vector<neuneu::RunForecast> f = engine.forecast(runs);
  CHECK(f.size() == 2 && f[0].quantiles.size() == 2 && f[1].quantiles.size() == 1);
  for (const auto& run : f) {
    for (const auto& q : run.quantiles) {
      CHECK(q.size() == 5);
      for (std::size_t l = 0; l < q.size(); l++) {
        CHECK(q[l] >= 0.0f && q[l] <= 1.0f);
        if (l > 0) CHECK(q[l - 1] <= q[l]);
      }
    }
  }
  CHECK(engine.forecast({}).empty());

  // Throughput row batching: the same forecasts within 1e-5; then back to exact.
  engine.set_row_batching(neuneu::RowBatching::Throughput);
  std::vector<neuneu::RunForecast> fast = engine.forecast(runs);
  engine.set_row_batching(neuneu::RowBatching::Exact);
  CHECK(fast.size() == f.size());
  for (std::size_t r = 0; r < f.size(); r++)
    for (std::size_t t = 0; t < f[r].quantiles.size(); t++)
      for (std::size_t l = 0; l < 5; l++)
        CHECK(std::fabs(f[r].quantiles[t][l] - fast[r].quantiles[t][l]) < 1e-5f);

  // The same forecast through a bundle in memory and a bundle file, when a path is given.
  if (argc > 1) {
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
    CHECK(bytes.size() > 1000);
    neuneu::Engine mem = neuneu::Engine::from_memory(bytes);
    neuneu::Engine file = neuneu::Engine::from_file(argv[1]);
    CHECK(mem.forecast(runs)[0].quantiles == f[0].quantiles);
    CHECK(file.forecast(runs)[1].quantiles == f[1].quantiles);
  }

  // Ranking: the third run is run 0's curve shifted up, so it is first; run 1 is last.
  std::vector<double> s2{1000, 2000, 4000, 8000}, a2{0.50, 0.55, 0.60, 0.62}, t2{64000};
  std::vector<double> t0_last{64000};
  neuneu::Ranking r = engine.rank({{s0, a0, t0_last}, {s1, a1, t1}, {s2, a2, t2}});
  CHECK(r.n == 3 && r.order.size() == 3 && r.prob_above.size() == 9);
  CHECK(r.order[0] == 2 && r.order[2] == 1);
  for (std::size_t i = 0; i < 3; i++) {
    CHECK(std::isnan(r.p_above(i, i)));
    for (std::size_t j = 0; j < 3; j++)
      if (i != j) CHECK(std::fabs(r.p_above(i, j) + r.p_above(j, i) - 1.0) < 1e-12);
  }

  // Plans with every policy.
  std::vector<neuneu::Curve> arms{{s0, a0}, {s1, a1}, {s2, a2}};
  neuneu::Plan p = engine.plan(arms, 64000, neuneu::PlanOptions::keep_top_k(2));
  CHECK(p.k == 2 && p.arms.size() == 3);
  CHECK(p.arms[2].keep && !p.arms[1].keep);
  CHECK(std::fabs(p.arms[0].p_top_k + p.arms[1].p_top_k + p.arms[2].p_top_k - 2.0) < 1e-9);
  CHECK(p.arms[1].reason.rfind("stop: ", 0) == 0 && p.arms[2].reason.rfind("keep: ", 0) == 0);
  for (const auto& d : p.arms) CHECK(d.q10 <= d.median && d.median <= d.q90);
  CHECK(engine.plan(arms, 64000, neuneu::PlanOptions::stop_fraction(0.34)).k == 2);
  neuneu::Plan below = engine.plan(arms, 64000, neuneu::PlanOptions::stop_below_probability(1, 0.05));
  CHECK(below.arms[1].reason.find("below the threshold") != std::string::npos);
  neuneu::Plan budget = engine.plan(arms, 64000, neuneu::PlanOptions::stop_within_budget(1, 0.2));
  CHECK(budget.arms[2].keep);
  CHECK(budget.arms[1].reason.find("budget of 0.2") != std::string::npos);
  // Default options keep the top 3: all three arms, each certain.
  neuneu::Plan all = engine.plan(arms, 64000);
  CHECK(all.k == 3 && all.arms[0].keep && all.arms[1].keep && all.arms[2].p_top_k == 1.0);

  // Each error path is a neuneu::Error carrying the library's message.
  expect_error("missing file", [] { neuneu::Engine::from_file("/nonexistent/model.nnb"); },
               {"/nonexistent/model.nnb"});
  expect_error("garbage bundle", [] { neuneu::Engine::from_memory("not a bundle", 12); },
               {"bundle"});
  expect_error("non-UTF-8 path", [] { neuneu::Engine::from_file("\xff\xfe"); }, {"UTF-8"});
  std::vector<double> nan_acc{0.5, NAN};
  std::vector<double> two{1000, 2000};
  expect_error("NaN accuracy", [&] { engine.forecast({{s0, a0, t0}, {two, nan_acc, t1}}); },
               {"run 1", "accuracy"});
  std::vector<double> down{4000, 2000};
  expect_error("decreasing steps", [&] { engine.forecast({{down, two, t1}}); }, {"steps"});
  expect_error("length mismatch", [&] { engine.forecast({{s0, a1, t0}}); },
               {"run 0", "3 accuracy values for 4 steps"});
  expect_error("rank without target", [&] { engine.rank({{s0, a0, {}}, {s1, a1, t1}}); }, {});
  expect_error("k = 0", [&] { engine.plan(arms, 64000, neuneu::PlanOptions::keep_top_k(0)); },
               {"k"});
  expect_error("k > arms", [&] { engine.plan(arms, 64000, neuneu::PlanOptions::keep_top_k(4)); },
               {"k"});
  expect_error("budget 1", [&] { engine.plan(arms, 64000, neuneu::PlanOptions::stop_within_budget(1, 1.0)); },
               {"budget"});
  neuneu::PlanOptions bad_policy;
  bad_policy.policy = static_cast<neuneu::Policy>(9);
  expect_error("unknown policy", [&] { engine.plan(arms, 64000, bad_policy); },
               {"policy 9 is unknown"});
  expect_error("no arms", [&] { engine.plan({}, 64000); }, {"arms"});

  // A panic inside the library is an exception, and the engine keeps working.
  expect_error("panic", [] { neuneu::detail::call([] { neuneu::bridge::test_panic(); }); },
               {"panic caught at the C++ boundary", "deliberate panic"});
  CHECK(engine.forecast(runs)[0].quantiles == f[0].quantiles);

  // Moves: the moved-to engine works, the moved-from one throws instead of crashing.
  neuneu::Engine moved = std::move(engine);
  CHECK(moved.levels().size() == 5);
  expect_error("moved-from", [&] { (void)engine.levels(); }, {"moved from"});
  engine = std::move(moved);
  CHECK(engine.levels().size() == 5);

  // Four threads share one engine; every result equals the single-threaded one.
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      bool ok = true;
      for (int i = 0; i < 10; i++) ok = ok && engine.forecast(runs)[0].quantiles == f[0].quantiles;
      same[t] = ok;
    });
  }
  for (auto& t : threads) t.join();
  for (int s : same) CHECK(s == 1);

  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("cpp_api_test: all checks passed\n");
  return 0;
}
