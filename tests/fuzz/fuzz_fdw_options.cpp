// libFuzzer target: the pm_fdw option validator and parsers on arbitrary bytes.
#include "fdw/common/fdw_options.h"
#include "fdw/common/fdw_text.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const std::string input(reinterpret_cast<const char *>(data + 1), size - 1);
    const auto split = input.find('=');
    const std::string name = input.substr(0, split);
    const std::string value = split == std::string::npos ? std::string() : input.substr(split + 1);
    const auto ctx = static_cast<pm::fdw::Context>(1u << (data[0] % 5));
    pm::fdw::check_option(name, value, ctx, data[0] & 0x80);
    pm::fdw::parse_duration_ms(value);
    pm::fdw::scrub_secrets(input, {name});
    return 0;
}
