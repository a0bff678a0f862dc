/* fdw_text.cpp — see fdw_text.h. */
#include "fdw/common/fdw_text.h"

#include <cctype>

namespace pm::fdw {

std::string quote_literal(std::string_view value)
{
    const bool backslash = value.find('\\') != std::string_view::npos;
    std::string out;
    out.reserve(value.size() + 3);
    if (backslash)
        out.push_back('E');
    out.push_back('\'');
    for (char c : value) {
        if (c == '\'' || c == '\\')
            out.push_back(c);
        out.push_back(c);
    }
    out.push_back('\'');
    return out;
}

std::string build_insert_sql(std::string_view target, const std::vector<std::string> &columns,
                             std::size_t rows)
{
    std::string sql = "INSERT INTO ";
    sql.append(target);
    if (columns.empty()) {
        /* Only defaults: one statement per row is the only form; callers send rows == 1. */
        sql.append(" DEFAULT VALUES");
        return sql;
    }
    sql.append(" (");
    for (std::size_t i = 0; i < columns.size(); ++i) {
        if (i)
            sql.append(", ");
        sql.append(columns[i]);
    }
    sql.append(") VALUES ");
    std::size_t n = 1;
    for (std::size_t r = 0; r < rows; ++r) {
        if (r)
            sql.append(", ");
        sql.push_back('(');
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (i)
                sql.append(", ");
            sql.push_back('$');
            sql.append(std::to_string(n++));
        }
        sql.push_back(')');
    }
    return sql;
}

std::string scrub_secrets(std::string text, const std::vector<std::string> &secrets)
{
    static const std::string kMask = "********";
    for (const std::string &secret : secrets) {
        if (secret.empty())
            continue;
        std::size_t pos = 0;
        while ((pos = text.find(secret, pos)) != std::string::npos) {
            text.replace(pos, secret.size(), kMask);
            pos += kMask.size();
        }
    }
    /* password=value / password = 'value' in conninfo-like text */
    for (std::string_view keyword : {"password", "sslpassword"}) {
        std::size_t pos = 0;
        while ((pos = text.find(keyword, pos)) != std::string::npos) {
            std::size_t i = pos + keyword.size();
            const bool word_start =
                pos == 0 || !(std::isalnum(static_cast<unsigned char>(text[pos - 1])) ||
                              text[pos - 1] == '_');
            while (i < text.size() && text[i] == ' ')
                ++i;
            if (!word_start || i >= text.size() || text[i] != '=') {
                pos += keyword.size();
                continue;
            }
            ++i;
            while (i < text.size() && text[i] == ' ')
                ++i;
            std::size_t end = i;
            if (end < text.size() && text[end] == '\'') {
                ++end;
                while (end < text.size() && text[end] != '\'') {
                    if (text[end] == '\\' && end + 1 < text.size())
                        ++end;
                    ++end;
                }
                if (end < text.size())
                    ++end;
            } else {
                while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])))
                    ++end;
            }
            text.replace(i, end - i, kMask);
            pos = i + kMask.size();
        }
    }
    return text;
}

std::string trim_message(std::string_view message)
{
    while (!message.empty() &&
           (message.back() == '\n' || message.back() == ' ' || message.back() == '\r'))
        message.remove_suffix(1);
    return std::string(message);
}

} // namespace pm::fdw
