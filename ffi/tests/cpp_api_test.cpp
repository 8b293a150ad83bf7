// Exercises every method of ffi/include/neuneu.hpp (engines, per-run forecasts, rankings,
// plans, the online Sweep), each error path as a neuneu::Error with the library's message and
// status, a provoked panic (with the test hooks), moves, and 4 threads sharing one engine.
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

// Runs f, which must throw neuneu::Error with `status` and a message containing every one of
// `parts`.
template <class F>
static void expect_error(const char* what, F f, std::vector<std::string> parts,
                         neuneu::Status status = neuneu::Status::InvalidArgument) {
  try {
    f();
    std::fprintf(stderr, "FAIL %s: no exception\n", what);
    failures++;
  } catch (const neuneu::Error& e) {
    if (e.status() != status) {
      std::fprintf(stderr, "FAIL %s: status %d, expected %d\n", what, static_cast<int>(e.status()),
                   static_cast<int>(status));
      failures++;
    }
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
               {"/nonexistent/model.nnb"}, neuneu::Status::Io);
  expect_error("garbage bundle", [] { neuneu::Engine::from_memory("not a bundle", 12); },
               {"bundle"}, neuneu::Status::Bundle);
  expect_error("non-UTF-8 path", [] { neuneu::Engine::from_file("\xff\xfe"); }, {"UTF-8"});
  expect_error("unknown backend",
               [] { neuneu::Engine::default_model(static_cast<neuneu::Backend>(9)); },
               {"backend 9"});
  CHECK(neuneu::Engine::default_model(neuneu::Backend::Cpu).levels().size() == 5);

  // One bad run does not fail the others: each has its status and message.
  std::vector<double> nan_acc{0.5, NAN};
  std::vector<double> two{1000, 2000};
  std::vector<neuneu::RunForecast> mixed = engine.forecast({{s0, a0, t0}, {two, nan_acc, t1}});
  CHECK(mixed.size() == 2 && mixed[0].ok() && mixed[0].quantiles == f[0].quantiles);
  CHECK(!mixed[1].ok() && mixed[1].status == neuneu::Status::InvalidInput);
  CHECK(mixed[1].error.find("run 1") != std::string::npos && mixed[1].quantiles.empty());
  std::vector<double> down{4000, 2000};
  CHECK(engine.forecast({{down, two, t1}})[0].error.find("steps") != std::string::npos);
  expect_error("length mismatch", [&] { engine.forecast({{s0, a1, t0}}); },
               {"run 0", "3 values for 4 steps"});
  expect_error("rank without target", [&] { engine.rank({{s0, a0, {}}, {s1, a1, t1}}); }, {},
               neuneu::Status::InvalidInput);
  expect_error("k = 0", [&] { engine.plan(arms, 64000, neuneu::PlanOptions::keep_top_k(0)); },
               {"k"});
  // k larger than the arms is capped, and the plan says so.
  neuneu::Plan capped = engine.plan(arms, 64000, neuneu::PlanOptions::keep_top_k(4));
  CHECK(capped.k == 3 && capped.k_requested == 4);
  CHECK(capped.arms[0].reason.find("k capped at 3") != std::string::npos);

  // Token losses of the last checkpoint change a forecast; negative ones are refused.
  std::vector<float> tokens(64, 2.5f), negative(64, -1.0f);
  neuneu::Run with_tokens{s0, a0, t0, tokens};
  std::vector<neuneu::RunForecast> tok = engine.forecast({with_tokens, {s0, a0, t0, negative}});
  CHECK(tok[0].ok() && tok[0].quantiles.size() == 2 && !tok[1].ok());

  // A loss, minimized: forecasts in loss units, increasing with the level; a plan over young
  // and grown arms at their own end steps.
  std::vector<double> ls{1000, 2000, 4000, 8000}, lv{3.0, 2.5, 2.2, 2.0}, lt{32000};
  std::vector<neuneu::RunForecast> lf = engine.forecast({{ls, lv, lt}}, neuneu::Metric::loss());
  CHECK(lf[0].ok());
  for (std::size_t l = 0; l < 5; l++) {
    CHECK(lf[0].quantiles[0][l] > 0.5f && lf[0].quantiles[0][l] < 3.0f);
    if (l > 0) CHECK(lf[0].quantiles[0][l - 1] <= lf[0].quantiles[0][l]);
  }
  CHECK(!engine.forecast({{ls, lv, lt}})[0].ok());  // not a bounded metric
  // The loss negated and maximized: the same forecast, negated, its levels in reverse.
  std::vector<double> negated{-3.0, -2.5, -2.2, -2.0};
  std::vector<neuneu::RunForecast> nf = engine.forecast({{ls, negated, lt}}, neuneu::Metric::neg_loss());
  CHECK(nf[0].ok());
  for (std::size_t l = 0; l < 5; l++) CHECK(nf[0].quantiles[0][l] == -lf[0].quantiles[0][4 - l]);
  CHECK(!engine.forecast({{ls, lv, lt}}, neuneu::Metric::neg_loss())[0].ok());  // positive
  std::vector<double> one_step{1000}, one_loss{2.9}, lv2{3.2, 2.9, 2.7, 2.6};
  neuneu::PlanOptions loss_options = neuneu::PlanOptions::keep_top_k(1);
  loss_options.metric = neuneu::Metric::loss();
  neuneu::Plan lp = engine.plan({{ls, lv, 64000}, {one_step, one_loss}, {ls, lv2}}, 32000, loss_options);
  CHECK(lp.k == 1 && lp.arms[0].keep && !lp.arms[2].keep && lp.arms[1].keep);
  CHECK(std::isnan(lp.arms[1].p_top_k) && lp.arms[1].reason.find("needs 2 points") != std::string::npos);
  CHECK(lp.arms[0].median < lp.arms[2].median);

  // The online sweep: the same arms fed point by point; a save and a load decide the same.
  neuneu::SweepOptions so;
  so.metric = neuneu::Metric::loss();
  so.k = 1;
  so.end_step = 32000;
  neuneu::Sweep sweep(engine, so);
  for (std::size_t i = 0; i < ls.size(); i++) {
    sweep.observe("a", ls[i], lv[i]);
    sweep.observe("c", ls[i], lv2[i]);
  }
  sweep.observe("b", 1000, 2.9);
  sweep.set_end("a", 64000);
  expect_error("step back", [&] { sweep.observe("a", 10, 1.0); }, {"a", "before"},
               neuneu::Status::InvalidInput);
  {
    // Token losses of a's last point reach its forecast (the band); an unknown step throws.
    neuneu::Sweep probe = neuneu::Sweep::load(engine, sweep.save());
    neuneu::Decision before = probe.decide({"a"});
    std::vector<float> tokens(64);
    for (std::size_t i = 0; i < tokens.size(); i++) tokens[i] = 0.5f + 0.1f * static_cast<float>(i % 9);
    probe.observe_losses("a", ls.back(), tokens);
    neuneu::Decision after = probe.decide({"a"});
    CHECK(after.arms[0].q90 != before.arms[0].q90);
    expect_error("losses at no point", [&] { probe.observe_losses("a", 12345, tokens); },
                 {"a", "no value observed at step 12345"}, neuneu::Status::InvalidInput);
  }
  neuneu::Decision d0 = sweep.decide();
  CHECK(d0.index == 0 && d0.k == 1 && d0.arms.size() == 3);
  CHECK(d0.arms[0].id == "a" && d0.arms[0].action == neuneu::Action::Continue);
  // Arms in the order the sweep first saw them: a, c, b.
  CHECK(d0.arms[1].id == "c" && d0.arms[1].action == neuneu::Action::Stop);
  CHECK(d0.arms[2].reason.find("needs 2 points") != std::string::npos && std::isnan(d0.arms[2].median));
  CHECK(d0.arms[0].end_step == 64000 && d0.arms[1].end_step == 32000);
  const std::string saved = sweep.save();
  neuneu::Sweep copy = neuneu::Sweep::load(engine, saved);
  sweep.finish("c");
  copy.finish("c");
  neuneu::Decision d1 = sweep.decide({"a", "c"}), d1_copy = copy.decide({"a", "c"});
  CHECK(d1.index == 1 && d1.arms.size() == 2 && d1.arms[1].action == neuneu::Action::Finished);
  CHECK(d1.seed == d1_copy.seed && d1.arms[0].reason == d1_copy.arms[0].reason);
  CHECK(d1.arms[0].p_top_k == d1_copy.arms[0].p_top_k);
  std::vector<std::vector<double>> sf = sweep.forecast("a", {16000, 32000});
  CHECK(sf.size() == 2 && sf[0].size() == 5 && sf[0][0] <= sf[0][4]);
  expect_error("unknown arm", [&] { sweep.decide({"nobody"}); }, {"nobody"},
               neuneu::Status::InvalidInput);
  expect_error("bad saved sweep", [&] { neuneu::Sweep::load(engine, "{}"); }, {"sweep"});
  neuneu::SweepOptions bad_sweep;
  bad_sweep.k = 0;
  expect_error("sweep k = 0", [&] { neuneu::Sweep s(engine, bad_sweep); }, {"k"});
  neuneu::Sweep moved_sweep = std::move(sweep);
  expect_error("moved-from sweep", [&] { sweep.decide(); }, {"moved from"});

  // Calibrated on 5 finished arms: an arm with one point is judged from how they went on (by
  // their growth: their losses differ by a constant, exp(-loss) by a factor; as in C's test).
  neuneu::SweepOptions co;
  co.metric = neuneu::Metric::loss();
  co.k = 1;
  co.end_step = 8000;
  co.calibrate = true;
  neuneu::Sweep calibrated(engine, co);
  for (int a = 0; a < 5; a++) {
    const std::string id = "done-" + std::to_string(a);
    for (int t = 0; t < 8; t++) calibrated.observe(id, 1000.0 * (t + 1), 1.0 + 0.1 * a + 2.0 / (1.0 + t));
    calibrated.finish(id);
  }
  calibrated.observe("young", 1000, 3.9);
  neuneu::Decision dc = calibrated.decide({"young"});
  CHECK(!std::isnan(dc.arms[0].p_top_k) && dc.arms[0].action == neuneu::Action::Stop);
  CHECK(dc.arms[0].reason.find("growth of 5 finished arms") != std::string::npos);

  // Adapted to its finished arms: ten runs whose loss drops by 0.4 at their 6th point, which
  // nothing in their first five announces; the sweep goes on with the adapted model, which
  // forecasts a live arm with the drop.
  auto dropping = [](int a, int t) { return 1.0 + 0.05 * a + 1.0 / (1.0 + t) - (t >= 5 ? 0.4 : 0.0); };
  co.calibrate = false;
  neuneu::Sweep learning(engine, co);
  for (int a = 0; a < 10; a++) {
    const std::string id = "done-" + std::to_string(a);
    for (int t = 0; t < 8; t++) learning.observe(id, 1000.0 * (t + 1), dropping(a, t));
    learning.finish(id);
  }
  for (int t = 0; t < 5; t++) learning.observe("live", 1000.0 * (t + 1), dropping(3, t));
  const double before = learning.forecast("live", {8000})[0][2];
  const neuneu::Adapted adapted = learning.adapt();
  CHECK(adapted.runs_fitted + adapted.runs_held_out == 10);
  CHECK(adapted.held_out_mae < adapted.base_held_out_mae);
  neuneu::Engine tuned = neuneu::Engine::from_memory(adapted.bundle);
  learning.set_engine(tuned);
  const double after = learning.forecast("live", {8000})[0][2];
  CHECK(std::fabs(after - dropping(3, 7)) < 0.5 * std::fabs(before - dropping(3, 7)));
  neuneu::AdaptOptions whole;
  whole.holdout = 0;
  const neuneu::Adapted unscored = learning.adapt(whole);
  CHECK(unscored.runs_held_out == 0 && std::isnan(unscored.held_out_mae));
  neuneu::AdaptOptions bad_adapt;
  bad_adapt.loss_summary = static_cast<neuneu::LossSummary>(7);
  expect_error("adapt loss summary 7", [&] { learning.adapt(bad_adapt); }, {"loss_summary 7"});
  bad_adapt = neuneu::AdaptOptions();
  bad_adapt.base = {1, 2, 3};
  expect_error("adapt from a corrupt base", [&] { learning.adapt(bad_adapt); }, {},
               neuneu::Status::Bundle);
  bad_adapt = neuneu::AdaptOptions();
  bad_adapt.holdout = 0.5;
  expect_error("adapt holding out half of 5 finished arms", [&] { calibrated.adapt(bad_adapt); },
               {"of the 5 runs", "at least 4", "lower the hold-out"});
  expect_error("budget 1", [&] { engine.plan(arms, 64000, neuneu::PlanOptions::stop_within_budget(1, 1.0)); },
               {"budget"});
  neuneu::PlanOptions bad_policy;
  bad_policy.policy = static_cast<neuneu::Policy>(9);
  expect_error("unknown policy", [&] { engine.plan(arms, 64000, bad_policy); },
               {"policy 9 is unknown"});
  expect_error("no arms", [&] { engine.plan({}, 64000); }, {"arms"});

#ifdef NEUNEU_TEST_HOOKS
  // A panic inside the library is an exception, and the engine keeps working.
  expect_error("panic", [] { neuneu::detail::call([] { neuneu::bridge::test_panic(); }); },
               {"panic caught at the C++ boundary", "deliberate panic"}, neuneu::Status::Panic);
  CHECK(engine.forecast(runs)[0].quantiles == f[0].quantiles);
#endif

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
