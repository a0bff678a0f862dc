/* uuid_text.cpp — see uuid_text.h. */
#include "shared/pure/uuid_text.h"

namespace pm {

namespace {

int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

constexpr char kHexDigits[] = "0123456789abcdef";

} // namespace

std::optional<UuidBytes> parse_uuid(std::string_view text)
{
    if (!text.empty() && text.front() == '{') {
        if (text.size() < 2 || text.back() != '}')
            return std::nullopt;
        text = text.substr(1, text.size() - 2);
    }

    UuidBytes out{};
    std::size_t digits = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        /* A hyphen may only follow a complete group of four digits, and not end the value. */
        if (text[pos] == '-') {
            if (digits == 0 || digits % 4 != 0 || digits == 32 || pos + 1 == text.size() ||
                text[pos + 1] == '-')
                return std::nullopt;
            ++pos;
            continue;
        }
        const int high = hex_value(text[pos]);
        if (high < 0 || pos + 1 >= text.size() || digits >= 32)
            return std::nullopt;
        const int low = hex_value(text[pos + 1]);
        if (low < 0)
            return std::nullopt;
        out[digits / 2] = static_cast<std::uint8_t>(high << 4 | low);
        digits += 2;
        pos += 2;
    }
    if (digits != 32)
        return std::nullopt;
    return out;
}

std::string format_uuid_compact(const UuidBytes &uuid)
{
    std::string out;
    out.reserve(32);
    for (std::uint8_t byte : uuid) {
        out.push_back(kHexDigits[byte >> 4]);
        out.push_back(kHexDigits[byte & 0x0f]);
    }
    return out;
}

std::string format_uuid(const UuidBytes &uuid)
{
    const std::string hex = format_uuid_compact(uuid);
    return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
           hex.substr(16, 4) + '-' + hex.substr(20, 12);
}

} // namespace pm
