// The long curve format (suite,run,shots,task,step,tokens,acc,...) read into sweeps of arms,
// for the examples. Each (suite, shots, task) is one sweep with one arm per run (runs in id
// order); compute is the `tokens` column and the metric is `acc`.
#pragma once

#include <algorithm>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace curve_file {

struct Arm {
  std::string run;
  std::vector<double> compute, value;
};

using SweepKey = std::tuple<std::string, std::string, std::string>;  // suite, shots, task

// The cells of a line, empty ones included (also trailing ones: "a,," is three cells).
inline std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    out.push_back(line.substr(start, comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// Reads the curve file into sweeps of arms (only the rows of `task`, if not empty), each arm's
// points sorted by compute (a repeated compute value keeps its last row, as neuneu's reader
// does).
inline std::map<SweepKey, std::vector<Arm>> read_sweeps(const std::string& path,
                                                        const std::string& task = "") {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header = split(line);
  auto column = [&](const std::string& name) {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) throw std::runtime_error(path + ": no column " + name);
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t suite = column("suite"), run = column("run"), shots = column("shots"),
                    task_col = column("task"), tokens = column("tokens"), acc = column("acc");
  std::map<SweepKey, std::map<std::string, std::map<double, double>>> points;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> c = split(line);
    if (c.size() < header.size()) throw std::runtime_error(path + ": short row: " + line);
    if (!task.empty() && c[task_col] != task) continue;
    points[{c[suite], c[shots], c[task_col]}][c[run]][std::stod(c[tokens])] = std::stod(c[acc]);
  }
  std::map<SweepKey, std::vector<Arm>> sweeps;
  for (auto& [key, runs] : points) {
    for (auto& [id, curve] : runs) {
      Arm arm{id, {}, {}};
      for (auto& [x, y] : curve) {
        arm.compute.push_back(x);
        arm.value.push_back(y);
      }
      sweeps[key].push_back(std::move(arm));
    }
  }
  return sweeps;
}

}  // namespace curve_file
