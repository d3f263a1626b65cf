#include "nightshift/template.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using nightshift::Template;
using nightshift::TemplateContext;
using nightshift::TextError;
using namespace date::literals;

namespace {

TemplateContext kpi_context(date::year_month_day day = 2024_y / date::March / 1) {
  TemplateContext context;
  context.date = day;
  context.scheduled_at = "2024-03-01T00:10:00+09:00";
  context.run_id = 4217;
  context.job = "kpi";
  context.step = "extract_registration";
  context.attempt = 2;
  return context;
}

std::string render(std::string_view text, const TemplateContext& context = kpi_context()) {
  auto parsed = Template::parse(text);
  if (!parsed) FAIL("parse failed: " << parsed.error().message << " at " << parsed.error().offset);
  return parsed->render(context);
}

std::string render_on(std::string_view text, date::year_month_day day) {
  return render(text, kpi_context(day));
}

TextError parse_error(std::string_view text) {
  auto parsed = Template::parse(text);
  if (parsed) FAIL("parsed without error: " << text);
  return parsed.error();
}

void check_error(std::string_view text, std::string_view message, std::size_t offset) {
  INFO("template: " << text);
  const TextError error = parse_error(text);
  CHECK(error.message == message);
  CHECK(error.offset == offset);
}

}  // namespace

TEST_CASE("template: every variable renders from the context") {
  CHECK(render("{{ date }}") == "2024-03-01");
  CHECK(render("{{ date_nodash }}") == "20240301");
  CHECK(render("{{ yesterday }}") == "2024-02-29");
  CHECK(render("{{ scheduled_at }}") == "2024-03-01T00:10:00+09:00");
  CHECK(render("{{ run_id }}") == "4217");
  CHECK(render("{{ job }}") == "kpi");
  CHECK(render("{{ step }}") == "extract_registration");
  CHECK(render("{{ attempt }}") == "2");
}

TEST_CASE("template: whitespace inside the braces is optional") {
  CHECK(render("{{date}}") == "2024-03-01");
  CHECK(render("{{   date   }}") == "2024-03-01");
  CHECK(render("{{\tdate\t}}") == "2024-03-01");
  CHECK(render("{{ date|add_days(1) }}") == "2024-03-02");
  CHECK(render("{{date|add_days( -1 )|nodash}}") == "20240229");
  CHECK(render("{{ date | add_days ( 2 ) }}") == "2024-03-03");
  CHECK(render("{{\n  date\n  | nodash\n}}") == "20240301");
}

TEST_CASE("template: add_days on date, yesterday and date_nodash keeps the format") {
  CHECK(render("{{ date | add_days(-30) }}") == "2024-01-31");
  CHECK(render("{{ date | add_days(0) }}") == "2024-03-01");
  CHECK(render("{{ date | add_days(+3) }}") == "2024-03-04");
  CHECK(render("{{ date | add_days(365) }}") == "2025-03-01");
  CHECK(render("{{ yesterday | add_days(-1) }}") == "2024-02-28");
  CHECK(render("{{ yesterday | add_days(1) }}") == "2024-03-01");
  CHECK(render("{{ date_nodash | add_days(-1) }}") == "20240229");
  CHECK(render("{{ date_nodash | add_days(31) }}") == "20240401");
}

TEST_CASE("template: nodash removes dashes from any variable") {
  CHECK(render("{{ date | nodash }}") == "20240301");
  CHECK(render("{{ yesterday | nodash }}") == "20240229");
  CHECK(render("{{ date_nodash | nodash }}") == "20240301");
  CHECK(render("{{ scheduled_at | nodash }}") == "20240301T00:10:00+09:00");
  CHECK(render("{{ run_id | nodash }}") == "4217");
  CHECK(render("{{ attempt | nodash }}") == "2");
  CHECK(render("{{ step | nodash }}") == "extract_registration");

  TemplateContext context = kpi_context();
  context.job = "nightly-kpi-report";
  context.step = "load-warehouse";
  context.scheduled_at = "2024-03-01T00:10:00-05:00";
  CHECK(render("{{ job | nodash }}", context) == "nightlykpireport");
  CHECK(render("{{ step | nodash }}", context) == "loadwarehouse");
  CHECK(render("{{ scheduled_at | nodash }}", context) == "20240301T00:10:0005:00");
  CHECK(render("{{ job }}", context) == "nightly-kpi-report");
}

TEST_CASE("template: filter chains apply left to right and commute on dates") {
  // nodash only changes a date's format and add_days keeps the current format,
  // so either order gives the same text.
  CHECK(render("{{ date | nodash | add_days(1) }}") == "20240302");
  CHECK(render("{{ date | add_days(1) | nodash }}") == "20240302");
  CHECK(render("{{ yesterday | nodash | add_days(-1) }}") == "20240228");
  CHECK(render("{{ date | add_days(10) | add_days(-11) }}") == "2024-02-29");
  CHECK(render("{{ date | add_days(-1) | nodash | add_days(-1) | nodash }}") == "20240228");
  CHECK(render("{{ date | nodash | nodash }}") == "20240301");
  CHECK(render("{{ date | add_days(100000) | add_days(-100000) }}") == "2024-03-01");
}

TEST_CASE("template: month ends and leap years") {
  CHECK(render_on("{{ date | add_days(-1) }}", 2024_y / date::March / 1) == "2024-02-29");
  CHECK(render_on("{{ date | add_days(-1) }}", 2023_y / date::March / 1) == "2023-02-28");
  CHECK(render_on("{{ yesterday }}", 2023_y / date::March / 1) == "2023-02-28");
  CHECK(render_on("{{ yesterday }}", 2000_y / date::March / 1) == "2000-02-29");
  CHECK(render_on("{{ yesterday }}", 1900_y / date::March / 1) == "1900-02-28");
  CHECK(render_on("{{ date | add_days(1) }}", 2024_y / date::February / 28) == "2024-02-29");
  CHECK(render_on("{{ date | add_days(1) }}", 2024_y / date::February / 29) == "2024-03-01");
  CHECK(render_on("{{ date | add_days(1) }}", 2023_y / date::February / 28) == "2023-03-01");
  CHECK(render_on("{{ date | add_days(1) }}", 2024_y / date::April / 30) == "2024-05-01");
  CHECK(render_on("{{ date | add_days(1) }}", 2024_y / date::December / 31) == "2025-01-01");
  CHECK(render_on("{{ yesterday }}", 2024_y / date::January / 1) == "2023-12-31");
  CHECK(render_on("{{ date_nodash }}", 2024_y / date::January / 1) == "20240101");
  CHECK(render_on("{{ date | add_days(-30) }}", 2024_y / date::March / 31) == "2024-03-01");
  CHECK(render_on("{{ date | add_days(366) }}", 2024_y / date::January / 1) == "2025-01-01");
  CHECK(render_on("{{ date | add_days(-366) }}", 2024_y / date::December / 31) == "2023-12-31");
}

TEST_CASE("template: text outside placeholders is copied byte for byte") {
  const std::string_view plain[] = {
      "",
      "echo hello",
      "$HOME",
      "${HOME}/bin",
      "${secret:DB_PASSWORD}",
      "${env:PATH}",
      "}}",
      "a }} b",
      "{ {",
      "{ { date } }",
      "{",
      "}",
      "{}",
      "awk '{print $1}'",
      "{\"json\": {\"nested\": 1}}",
      "tab\there\r\nand more",
      "caf\xc3\xa9 \xe2\x9c\x93 \xff\xfe",
      "  leading and trailing  ",
  };
  for (std::string_view text : plain) {
    INFO("text: " << text);
    auto parsed = Template::parse(text);
    REQUIRE(parsed.has_value());
    CHECK(parsed->render(kpi_context()) == text);
    CHECK(parsed->source() == text);
    CHECK_FALSE(parsed->has_placeholders());
  }
  constexpr char kWithNul[] = "a\0b{{ job }}\0c";
  constexpr char kRenderedWithNul[] = "a\0bkpi\0c";
  CHECK(render(std::string_view(kWithNul, sizeof kWithNul - 1)) ==
        std::string_view(kRenderedWithNul, sizeof kRenderedWithNul - 1));
}

TEST_CASE("template: placeholders mix with surrounding text") {
  CHECK(render("./load.sh \"{{ date_nodash }}\"") == "./load.sh \"20240301\"");
  CHECK(render("$HOME/{{ job }}/${secret:X}/{{ step }}") ==
        "$HOME/kpi/${secret:X}/extract_registration");
  CHECK(render("}}{{ job }}}}") == "}}kpi}}");
  CHECK(render("{{ job }}}") == "kpi}");
  CHECK(render("{ {{ job }} }") == "{ kpi }");
  CHECK(render("{{ job }}{{ step }}") == "kpiextract_registration");
  CHECK(render("{{job}}-{{attempt}}.log") == "kpi-2.log");
  CHECK(
      render(
          "run {{ run_id }} attempt {{ attempt }} of {{ job }}.{{ step }} at {{ scheduled_at }}") ==
      "run 4217 attempt 2 of kpi.extract_registration at 2024-03-01T00:10:00+09:00");
}

TEST_CASE("template: multi-line SQL") {
  const std::string_view sql =
      "DELETE FROM registration_recent;\n"
      "INSERT INTO registration_recent SELECT * FROM registration\n"
      " WHERE lesson_date > '{{ date | add_days(-30) }}'\n"
      "   AND lesson_date <= '{{ date }}'\n"
      "   AND note NOT LIKE '%$%' -- }} stays\n"
      "   AND partition = {{date_nodash}};\n";
  const std::string_view expected =
      "DELETE FROM registration_recent;\n"
      "INSERT INTO registration_recent SELECT * FROM registration\n"
      " WHERE lesson_date > '2024-01-31'\n"
      "   AND lesson_date <= '2024-03-01'\n"
      "   AND note NOT LIKE '%$%' -- }} stays\n"
      "   AND partition = 20240301;\n";
  auto parsed = Template::parse(sql);
  REQUIRE(parsed.has_value());
  CHECK(parsed->has_placeholders());
  CHECK(parsed->source() == sql);
  CHECK(parsed->render(kpi_context()) == expected);
  // A parsed template renders again for another run.
  CHECK(parsed->render(kpi_context(2024_y / date::March / 2)).find("'2024-02-01'") !=
        std::string::npos);
}

TEST_CASE("template: has_placeholders") {
  CHECK(Template::parse("{{ date }}")->has_placeholders());
  CHECK(Template::parse("x {{ job }} y")->has_placeholders());
  CHECK_FALSE(Template::parse("x }} y ${secret:X}")->has_placeholders());
  CHECK_FALSE(Template::parse("")->has_placeholders());
}

TEST_CASE("template: unknown variables, with a suggestion when one is close") {
  check_error("{{ dat }}", "unknown template variable 'dat' (did you mean 'date'?)", 3);
  check_error("x {{dte}}", "unknown template variable 'dte' (did you mean 'date'?)", 4);
  check_error("{{ DATE }}", "unknown template variable 'DATE' (did you mean 'date'?)", 3);
  check_error("{{ yesterdy }}", "unknown template variable 'yesterdy' (did you mean 'yesterday'?)",
              3);
  check_error("{{ datenodash }}",
              "unknown template variable 'datenodash' (did you mean 'date_nodash'?)", 3);
  check_error("{{ run-id }}", "unknown template variable 'run-id' (did you mean 'run_id'?)", 3);
  check_error("{{ jobs }}", "unknown template variable 'jobs' (did you mean 'job'?)", 3);
  check_error("{{ attempts }}", "unknown template variable 'attempts' (did you mean 'attempt'?)",
              3);
  check_error("{{ hostname }}", "unknown template variable 'hostname'", 3);
  check_error("{{ x }}", "unknown template variable 'x'", 3);
  check_error("{{ secret }}", "unknown template variable 'secret'", 3);
  check_error("ok {{ date }} then {{ tomorrow | nodash }}", "unknown template variable 'tomorrow'",
              22);
}

TEST_CASE("template: unknown and misused filters") {
  check_error("{{ job | upper }}", "unknown template filter 'upper'", 9);
  check_error("{{ date | nodahs }}", "unknown template filter 'nodahs' (did you mean 'nodash'?)",
              10);
  check_error("{{ date | add_day(1) }}",
              "unknown template filter 'add_day' (did you mean 'add_days'?)", 10);
  check_error("{{ date | nodash | trim }}", "unknown template filter 'trim'", 19);
  check_error("{{ job | add_days(1) }}", "filter 'add_days' needs a date, not 'job'", 9);
  check_error("{{ scheduled_at | add_days(1) }}",
              "filter 'add_days' needs a date, not 'scheduled_at'", 18);
  check_error("{{ run_id|add_days(1) }}", "filter 'add_days' needs a date, not 'run_id'", 10);
  check_error("{{ attempt | nodash | add_days(-1) }}",
              "filter 'add_days' needs a date, not 'attempt'", 22);
  check_error("{{ date | nodash(1) }}", "filter 'nodash' takes no argument", 16);
  check_error("{{ date | nodash (1) }}", "filter 'nodash' takes no argument", 17);
  check_error("{{ date | }}", "expected a filter name after '|'", 10);
  check_error("{{ date || nodash }}", "expected a filter name after '|'", 9);
  check_error("{{ date | 1 }}", "expected a filter name after '|'", 10);
}

TEST_CASE("template: add_days arguments") {
  const std::string usage = "add_days takes an integer, as in add_days(-30)";
  check_error("{{ date | add_days }}", usage, 10);
  check_error("{{ date | add_days | nodash }}", usage, 10);
  check_error("{{ date | add_days() }}", usage, 19);
  check_error("{{ date | add_days(x) }}", usage, 19);
  check_error("{{ date | add_days(-) }}", usage, 20);
  check_error("{{ date | add_days(- 1) }}", usage, 20);
  check_error("{{ date | add_days(1.5) }}", usage, 20);
  check_error("{{ date | add_days(1 2) }}", usage, 21);
  check_error("{{ date | add_days(1 }}", usage, 21);
  check_error("{{ date | add_days(--1) }}", usage, 20);
  check_error("{{ date | add_days(\"1\") }}", usage, 19);

  const std::string range = "add_days is limited to 100000 days either way";
  check_error("{{ date | add_days(100001) }}", range, 19);
  check_error("{{ date | add_days(-100001) }}", range, 19);
  check_error("{{ date | add_days(99999999999999999999999) }}", range, 19);
  check_error("{{ date | add_days(9223372036854775807) }}", range, 19);
  check_error("{{ date | add_days(60000) | add_days(60000) }}", range, 37);
  CHECK(render("{{ date | add_days(-100000) }}") == "1750-05-17");
}

TEST_CASE("template: malformed placeholders") {
  check_error("{{", "unclosed '{{'", 0);
  check_error("echo {{ date", "unclosed '{{'", 5);
  check_error("echo {{ date }", "unclosed '{{'", 5);
  check_error("{{ date }} and {{ job", "unclosed '{{'", 15);
  check_error("{{}}", "empty placeholder '{{ }}'", 0);
  check_error("a {{ }} b", "empty placeholder '{{ }}'", 2);
  check_error("{{ \n\t }}", "empty placeholder '{{ }}'", 0);
  check_error("{{ | nodash }}", "expected a template variable after '{{'", 3);
  check_error("{{ 1 }}", "expected a template variable after '{{'", 3);
  check_error("{{{ date }}}", "expected a template variable after '{{'", 2);
  check_error("{{ $HOME }}", "expected a template variable after '{{'", 3);
  check_error("{{ date nodash }}", "expected '|' or '}}' after 'date'", 8);
  check_error("{{ date | nodash x }}", "expected '|' or '}}' after 'nodash'", 17);
  check_error("{{ date | add_days(1) x }}", "expected '|' or '}}' after 'add_days(1)'", 22);
  check_error("{{ date }", "unclosed '{{'", 0);
  check_error("{{ date {{ job }}", "expected '|' or '}}' after 'date'", 8);
}

TEST_CASE("template: source keeps the original text") {
  const std::string_view text = "  {{date|add_days(-1)}} ";
  auto parsed = Template::parse(text);
  REQUIRE(parsed.has_value());
  CHECK(parsed->source() == text);
  CHECK(parsed->render(kpi_context()) == "  2024-02-29 ");
}
