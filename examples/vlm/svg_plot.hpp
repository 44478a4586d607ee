// Line charts as standalone SVG text, for the demo's report (loss, token_acc, reward and
// learning-rate curves): no plotting library, any browser or Markdown viewer shows them.
//   line_chart({"SFT loss", "step", "loss"}, {{"train", {{1, 6.7}, {50, 4.0}}, "#1f77b4"}})
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace vlm::cli {

struct plot_series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), any order of x is drawn as given
  std::string colour = "#1f77b4";
};

struct plot_labels {
  std::string title, x, y;
};

namespace detail {

inline std::string fmt_num(double v) {
  char buf[32];
  const double a = std::abs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e5)) std::snprintf(buf, sizeof buf, "%.1e", v);
  else std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

inline std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

}  // namespace detail

// A 640 x 360 chart with 5 ticks per axis and a legend; empty series are skipped. The y range
// is padded by 5 % so flat curves stay visible.
inline std::string line_chart(const plot_labels& labels, const std::vector<plot_series>& series) {
  const double W = 640, H = 360, left = 70, right = 20, top = 36, bottom = 48;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series)
    for (auto [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  const double pad = (y1 - y0) * 0.05 + (y1 == y0 ? 0.5 : 0);
  y0 -= pad, y1 += pad;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (W - left - right); };
  auto py = [&](double y) { return top + (y1 - y) / (y1 - y0) * (H - top - bottom); };
  char buf[256];
  std::string svg;
  std::snprintf(buf, sizeof buf, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
  svg += buf;
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::snprintf(buf, sizeof buf, "<text x=\"%g\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">", W / 2);
  svg += buf + detail::xml_escape(labels.title) + "</text>\n";
  for (int i = 0; i <= 4; ++i) {  // grid and ticks
    const double fx = x0 + (x1 - x0) * i / 4, fy = y0 + (y1 - y0) * i / 4;
    std::snprintf(buf, sizeof buf, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>\n", px(fx), top, px(fx), H - bottom);
    svg += buf;
    std::snprintf(buf, sizeof buf, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, py(fy), W - right, py(fy));
    svg += buf;
    std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">", px(fx), H - bottom + 16);
    svg += buf + detail::fmt_num(fx) + "</text>\n";
    std::snprintf(buf, sizeof buf, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">", left - 6, py(fy) + 4);
    svg += buf + detail::fmt_num(fy) + "</text>\n";
  }
  std::snprintf(buf, sizeof buf, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#444\"/>\n", left, top,
                W - left - right, H - top - bottom);
  svg += buf;
  std::snprintf(buf, sizeof buf, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">", (left + W - right) / 2, H - 10);
  svg += buf + detail::xml_escape(labels.x) + "</text>\n";
  std::snprintf(buf, sizeof buf, "<text x=\"16\" y=\"%g\" text-anchor=\"middle\" transform=\"rotate(-90 16 %g)\">", (top + H - bottom) / 2,
                (top + H - bottom) / 2);
  svg += buf + detail::xml_escape(labels.y) + "</text>\n";
  int legend = 0;
  for (const auto& s : series) {
    if (s.points.empty()) continue;
    svg += "<polyline fill=\"none\" stroke=\"" + s.colour + "\" stroke-width=\"1.8\" points=\"";
    for (auto [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", px(x), py(y));
      svg += buf;
    }
    svg += "\"/>\n";
    if (s.points.size() == 1) {
      std::snprintf(buf, sizeof buf, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(s.points[0].first),
                    py(s.points[0].second), s.colour.c_str());
      svg += buf;
    }
    const double ly = top + 14 + 16 * legend++;
    std::snprintf(buf, sizeof buf, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"3\"/>\n", W - right - 150,
                  ly - 4, W - right - 130, ly - 4, s.colour.c_str());
    svg += buf;
    std::snprintf(buf, sizeof buf, "<text x=\"%g\" y=\"%g\">", W - right - 125, ly);
    svg += buf + detail::xml_escape(s.name) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace vlm::cli
