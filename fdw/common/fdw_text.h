/*
 * fdw_text.h — SQL text and message helpers of pm_fdw, without PostgreSQL
 * (unit tested: tests/unit/fdw/test_fdw_text.cpp).
 */
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pm::fdw {

/* A SQL string literal that means `value` whatever standard_conforming_strings says
 * ('it''s', or E'a\\b' when there is a backslash), as quote_literal() does. */
std::string quote_literal(std::string_view value);

/* Appends `$first, $first+1, ...` placeholders: "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)".
 * `target` is already quoted (schema.table), `columns` already quoted. */
std::string build_insert_sql(std::string_view target, const std::vector<std::string> &columns,
                             std::size_t rows);

/* Replaces every occurrence of each non-empty secret with "********" (case-sensitive,
 * also inside words), and any `password=...` keyword value in conninfo-like text. */
std::string scrub_secrets(std::string text, const std::vector<std::string> &secrets);

/* Trims trailing newlines/spaces of a libpq message. */
std::string trim_message(std::string_view message);

} // namespace pm::fdw
