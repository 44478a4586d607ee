// Random text lines like the seed tutorial's OCR set ('等:¥476.0', '余443张', '学历要求',
// '般10%以下', '在2日内到有效'): 2 to 12 characters of digits, ¥ $ . : , - % and 300 common
// Chinese characters. Deterministic for a seed (splitmix, no std distributions).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "vlm/data/splitmix.hpp"
#include "vlm/metrics/unicode_text.hpp"  // defines: utf8_to_code_points, code_points_to_utf8

namespace vlm::data {

inline constexpr std::string_view ocr_symbols = "0123456789¥$.:,-%";
// The characters of the seed's samples and receipts first, then the most frequent Chinese
// characters; '请' is left out so that the query "请识别图片中的文字" never appears in a response.
inline constexpr std::string_view ocr_chinese =
    "等余张学历要求中国般以下在日内到有效车服务公司宗派排次增加金属蛋白酶助异位组织侵"
    "蚀防御合计额总价单数量期时间年月元共件个号店票付款找零收税码买卖费的一是不了人我"
    "他这大来上说们为子和你地出道也得就那生会自着去之过家对可她里后小么心多天而能好都"
    "然没于起还发成事只作当想看文无开手十用主行方又如前所本见经头面同三已老从动两长知"
    "民样现分将外但身些与高意进把法此实回二理美点明其种声全工己话儿者向情部正名定女问"
    "力机给几很业最新什打便因重被走电四第门相东政海口使教西再平真听世气信北少关并化由"
    "却代军产入先山五太水万市眼体别处才场师书比住员九笑性通目华报立马命活难神安表原应"
    "路叫死常提感何更反放做系或利受光王果亲界";
// The seed's OCR prompt ("please recognise the text in the picture").
inline constexpr std::string_view ocr_query = "请识别图片中的文字";

// Every character a response of random_ocr_text may hold.
inline std::string ocr_charset() { return std::string(ocr_symbols) + std::string(ocr_chinese); }

// The characters a tokenizer for this data needs as single tokens: responses and the query.
inline std::string ocr_tokenizer_charset() { return ocr_charset() + std::string(ocr_query); }

inline constexpr int ocr_min_chars = 2, ocr_max_chars = 12;

namespace detail {

struct ocr_text_builder {
  splitmix& r;
  std::u32string chinese = metrics::utf8_to_code_points(ocr_chinese);

  std::u32string han(int n) {
    std::u32string s;
    for (int i = 0; i < n; ++i) s.push_back(chinese[r.below(static_cast<std::uint32_t>(chinese.size()))]);
    return s;
  }
  std::u32string digits(int n, bool lead_nonzero) {
    std::u32string s;
    for (int i = 0; i < n; ++i) s.push_back(U'0' + static_cast<char32_t>(i == 0 && lead_nonzero && n > 1 ? r.between(1, 9) : r.between(0, 9)));
    return s;
  }
  std::u32string number(int lo, int hi) { return metrics::utf8_to_code_points(std::to_string(r.between(lo, hi))); }
  std::u32string two(int lo, int hi) {
    const int v = r.between(lo, hi);
    return {U'0' + static_cast<char32_t>(v / 10), U'0' + static_cast<char32_t>(v % 10)};
  }
  // '¥476.0', '$12.50', '¥1,250'
  std::u32string amount() {
    std::u32string s(1, r.chance(0.75f) ? U'¥' : U'$');
    const int whole_digits = r.between(1, 4);
    std::u32string whole = digits(whole_digits, true);
    if (whole_digits == 4 && r.chance(0.5f)) whole.insert(1, 1, U',');
    s += whole;
    if (r.chance(0.7f)) s += U'.' + digits(r.between(1, 2), false);
    return s;
  }
  std::u32string date() {
    const std::u32string year = number(1990, 2030);
    if (r.chance(0.5f)) {
      const char32_t sep = r.chance(0.7f) ? U'-' : U'.';
      return year + sep + two(1, 12) + sep + two(1, 28);
    }
    return year + U'年' + number(1, 12) + U'月' + (r.chance(0.5f) ? number(1, 28) + U'日' : U"");
  }
  // One of the seed's shapes.
  std::u32string line() {
    switch (r.below(10)) {
      case 0: case 1: return han(r.between(2, 6));                                     // 学历要求
      case 2: return amount();                                                         // ¥476.0
      case 3: return han(r.between(1, 3)) + U':' + amount();                           // 等:¥476.0
      case 4: return han(1) + number(1, 999) + han(1);                                 // 余443张
      case 5: return han(r.between(0, 2)) + number(1, 99) + U'%' + han(r.between(0, 3)); // 般10%以下
      case 6: return date();                                                           // 2024-03-15
      case 7: return two(0, 23) + U':' + two(0, 59);                                   // 12:45
      case 8: return han(r.between(1, 3)) + number(1, 99) + han(r.between(1, 4));      // 在2日内到有效
      default: {  // any characters: every symbol gets seen
        const std::u32string all = metrics::utf8_to_code_points(ocr_charset());
        std::u32string s;
        for (int i = r.between(ocr_min_chars, ocr_max_chars); i > 0; --i) s.push_back(all[r.below(static_cast<std::uint32_t>(all.size()))]);
        return s;
      }
    }
  }
};

}  // namespace detail

// One text line of ocr_min_chars..ocr_max_chars characters of ocr_charset().
inline std::string random_ocr_text(std::uint64_t seed) {
  splitmix r(seed);
  detail::ocr_text_builder b{r};
  std::u32string s = b.line();
  if (s.size() > static_cast<std::size_t>(ocr_max_chars)) s.resize(ocr_max_chars);
  while (s.size() < static_cast<std::size_t>(ocr_min_chars)) s += b.han(1);
  return metrics::code_points_to_utf8(s);
}

}  // namespace vlm::data
