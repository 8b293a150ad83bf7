// A C++ program against an installed neuneu (the static library): the C++ API's forecast,
// sweep and error with its status. Exit status 0 = every check passed.
#include <neuneu.hpp>

#include <cstdio>
#include <vector>

int main() {
  int failures = 0;
  auto check = [&](bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "FAIL %s\n", what);
      failures++;
    }
  };
  neuneu::Engine engine = neuneu::Engine::default_model(neuneu::Backend::Cpu);
  std::vector<double> steps{1000, 2000, 4000}, acc{0.31, 0.35, 0.38}, targets{16000};
  auto f = engine.forecast({{steps, acc, targets}});
  check(f.size() == 1 && f[0].ok() && f[0].quantiles[0].size() == 5, "forecast");
  neuneu::SweepOptions options;
  options.k = 1;
  options.end_step = 16000;
  neuneu::Sweep sweep(engine, options);
  for (std::size_t i = 0; i < steps.size(); i++) sweep.observe("a", steps[i], acc[i]);
  check(sweep.decide().arms.size() == 1, "decide");
  try {
    sweep.observe("a", 10, 0.5);  // a step back
    check(false, "no exception");
  } catch (const neuneu::Error& e) {
    check(e.status() == neuneu::Status::InvalidInput, "status");
  }
  if (failures) return 1;
  std::printf("consumer_cpp: all checks passed\n");
  return 0;
}
