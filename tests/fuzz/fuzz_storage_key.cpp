// libFuzzer target for the storage-key parser and body encoding (built by
// CMake only with clang; ASan + UBSan on).  Run longer by hand:
//   build/cmake-clang/fuzz_storage_key -max_len=512 -max_total_time=600
// Properties: no crash or sanitizer report; an accepted key formats back to
// the identical input; a rejected one has a printable, bounded message; the
// body encoding of any split of the input is decodable to that split.
#include "core/pure/storage_key.h"

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace sk = pm::storage_key;

namespace {

void require(bool ok)
{
    if (!ok)
        std::abort();
}

void check_key(std::string_view input)
{
    const sk::ParseResult r = sk::try_parse(input);
    require(sk::is_valid(input) == r.ok());
    if (r.ok()) {
        require(sk::format(r.key) == input);
        require(sk::shard_of(r.key.digest, 1 + static_cast<int>(input.size() % 1000)) <
                1 + static_cast<int>(input.size() % 1000));
        return;
    }
    const std::string message = sk::describe(r, input);
    require(message.rfind("invalid storage key: ", 0) == 0 && message.size() < 400);
    for (unsigned char c : message)
        require(c >= 0x20 && c < 0x7f);
}

void check_body(std::string_view input)
{
    // Split the input in three at two data-chosen points; NULL parts from a flag byte.
    if (input.size() < 3)
        return;
    const auto flags = static_cast<unsigned char>(input[0]);
    const std::size_t a = static_cast<unsigned char>(input[1]) % input.size();
    const std::size_t b = a + static_cast<unsigned char>(input[2]) % (input.size() - a + 1);
    const std::string_view parts[3] = {input.substr(0, a), input.substr(a, b - a), input.substr(b)};
    sk::BodyParts body;
    std::optional<std::string_view> *fields[3] = {&body.text, &body.html, &body.headers};
    for (int i = 0; i < 3; i++)
        if (flags & (1 << i))
            *fields[i] = parts[i];
    const std::string bytes = sk::BodyEncoding(body).bytes();

    std::size_t at = sk::kBodyDomain.size();
    require(bytes.compare(0, at, sk::kBodyDomain) == 0);
    for (int i = 0; i < 3; i++) {
        const bool present = bytes[at] == 1;
        std::uint64_t len = 0;
        for (int k = 0; k < 8; k++)
            len = len << 8 | static_cast<unsigned char>(bytes[at + 1 + k]);
        at += 9;
        require(present == fields[i]->has_value());
        require(!present || bytes.compare(at, len, **fields[i]) == 0);
        at += len;
    }
    require(at == bytes.size());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const std::string_view input(reinterpret_cast<const char *>(data), size);
    check_key(input);
    check_body(input);
    return 0;
}
