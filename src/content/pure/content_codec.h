/*
 * content_codec.h — how the content tier keeps bodies and attachment bytes on
 * disk, without PostgreSQL (unit-tested and fuzzed on its own).
 *
 * Two layers:
 *
 *   body payload   the three parts of a body (text, html, headers; each may be
 *                  absent) in one byte string:
 *                      flags     1 byte   bit 0 text, bit 1 html, bit 2 headers
 *                                         present; bit 3: the headers are a jsonb
 *                                         container (flat_jsonb.h), not JSON text;
 *                                         other bits 0
 *                      lengths   one LEB128 varint per present part, in order
 *                      [size]    with bit 3: LEB128 size of the headers as JSON
 *                                text (what raw_size_bytes counts)
 *                      bytes     the present parts, in order
 *                  Every byte is accounted for: the lengths must add up to the
 *                  rest of the payload exactly.
 *
 *   frame          a compressed byte string:
 *                      codec     1 byte   'Z' zstd, 'D' zstd with a dictionary
 *                      dict id   LEB128 varint, only for 'D'
 *                      zstd      one zstd frame in the magicless format, with
 *                                content size, with the 32-bit content
 *                                checksum, without a dictionary id (ours is above)
 *                  The magic number, zstd's dictionary id and the missing
 *                  checksum-less option are what a small body cannot afford or
 *                  must not have: a frame is ~10 bytes of overhead in all.
 *
 * Decoding never returns bytes that differ from what was encoded: the frame must
 * declare its size and carry a checksum, the output must have exactly the
 * declared size, and any failure is a CodecError saying what is wrong.  That is
 * what lets the SQL layer promise "a clear error, never garbage".
 *
 * Everything here is part of the on-disk format: changing it needs a new codec
 * byte, not an edit.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;
struct ZSTD_CDict_s;
struct ZSTD_DDict_s;

namespace pm::content {

/* ------------------------------------------------------------------ errors */

enum class CodecErrorKind : std::uint8_t {
    truncated,          /* input ends inside a header or frame */
    unknown_codec,      /* first byte is not a codec this version writes */
    bad_varint,         /* overlong or out-of-range length / id */
    frame_header,       /* zstd frame header unreadable or not what we write */
    size_limit,         /* declared size beyond what the caller allows */
    missing_dictionary, /* frame needs a dictionary the caller cannot supply */
    bad_dictionary,     /* dictionary bytes zstd cannot load */
    zstd,               /* zstd reported an error (corrupt data, checksum) */
    size_mismatch,      /* output size differs from the declared size */
    bad_layout,         /* body payload flags / lengths inconsistent */
    compress_failed,    /* zstd could not compress (out of memory, parameters) */
    train_failed,       /* not enough samples to build a dictionary */
};

class CodecError : public std::runtime_error {
public:
    CodecError(CodecErrorKind kind, const std::string &message)
        : std::runtime_error(message), kind_(kind)
    {}
    CodecErrorKind kind() const noexcept { return kind_; }

private:
    CodecErrorKind kind_;
};

/* ------------------------------------------------------------ body payload */

struct BodyParts {
    std::optional<std::string_view> text;
    std::optional<std::string_view> html;
    std::optional<std::string_view> headers;
    /* Set when `headers` is a jsonb container rather than JSON text: the size of the
     * JSON text form, which is what callers put and what logical_size counts. */
    std::optional<std::uint32_t> headers_text_size;
};

/* Sum of the present parts' sizes, headers as JSON text: what callers put ("logical
 * bytes"). */
std::size_t logical_size(const BodyParts &parts) noexcept;

std::string pack_body(const BodyParts &parts);

/* Parts point into `payload`; throws CodecError(bad_layout / bad_varint / truncated). */
BodyParts unpack_body(std::string_view payload);

/* Upper bound of pack_body(parts).size() given logical_size(parts): flags, four varints,
 * and jsonb headers at most kMaxJsonbGrowth bytes longer than their text. */
constexpr std::size_t kMaxJsonbGrowth = 4;
constexpr std::size_t max_payload_overhead = 1 + 4 * 5 + kMaxJsonbGrowth;

/* --------------------------------------------------------------- varints */

/* LEB128; false when truncated, overlong (more than 5 bytes) or above UINT32_MAX. */
bool read_varint(std::string_view in, std::size_t &pos, std::uint32_t &value) noexcept;
void append_varint(std::string &out, std::uint32_t value);

/* ----------------------------------------------------------- dictionaries */

/*
 * A dictionary loaded for use: the bytes and, created on first use, zstd's
 * digested forms (a decompression dictionary, and one compression dictionary
 * for the level in use).  Not thread-safe; a backend is single-threaded.
 */
class Dictionary {
public:
    Dictionary(std::uint32_t id, std::string bytes);
    ~Dictionary();
    Dictionary(const Dictionary &) = delete;
    Dictionary &operator=(const Dictionary &) = delete;

    std::uint32_t id() const noexcept { return id_; }
    const std::string &bytes() const noexcept { return bytes_; }

    /* Throw CodecError(bad_dictionary) when zstd cannot load the bytes. */
    const ZSTD_DDict_s *ddict();
    const ZSTD_CDict_s *cdict(int level);

    /* Memory held, for a cache's budget. */
    std::size_t memory_bytes() const noexcept;

private:
    std::uint32_t id_;
    std::string bytes_;
    ZSTD_DDict_s *ddict_ = nullptr;
    ZSTD_CDict_s *cdict_ = nullptr;
    int cdict_level_ = 0;
};

/* Supplies the dictionary a frame names, or nullptr when there is none with that id. */
using DictionaryLookup = std::function<Dictionary *(std::uint32_t id)>;

/* ----------------------------------------------------------------- frames */

constexpr char kCodecZstd = 'Z';
constexpr char kCodecZstdDict = 'D';

/* Largest content size a frame may declare at all (PostgreSQL's varlena limit). */
constexpr std::uint64_t kMaxContentSize = (1u << 30) - 1;

struct FrameInfo {
    bool has_dictionary = false;
    std::uint32_t dictionary_id = 0;
    std::uint64_t content_size = 0;
    std::size_t header_size = 0; /* our header, before the zstd frame */
};

/* Reads and checks both headers without decompressing; throws CodecError. */
FrameInfo inspect_frame(std::string_view frame);

/*
 * Compression and decompression contexts, reused across calls (creating zstd
 * contexts per value would cost more than compressing a small body).
 */
class Codec {
public:
    Codec();
    ~Codec();
    Codec(const Codec &) = delete;
    Codec &operator=(const Codec &) = delete;

    /* A frame of `input`; with `dict` the frame names it and needs it to decode. */
    std::string compress(std::string_view input, int level, Dictionary *dict = nullptr);

    /*
     * The bytes `frame` holds, exactly, or CodecError.  `max_output` bounds the
     * size the frame may declare (checked before anything is allocated), so a
     * corrupt header cannot make us allocate a gigabyte.
     */
    std::string decompress(std::string_view frame, std::size_t max_output,
                           const DictionaryLookup &lookup = {});

    /* The same into `buffer`, which only ever grows (no allocation or clearing per
     * call once it is large enough); returns the number of bytes written. */
    std::size_t decompress_into(std::string_view frame, std::size_t max_output,
                                const DictionaryLookup &lookup, std::string &buffer);

private:
    ZSTD_CCtx_s *cctx_ = nullptr;
    ZSTD_DCtx_s *dctx_ = nullptr;
};

/* Levels zstd accepts, for validating a setting. */
int min_level() noexcept;
int max_level() noexcept;

/* -------------------------------------------------------------- training */

struct TrainedDictionary {
    std::string bytes;
    /* How it was made (stored with the dictionary; documentation, not format):
     *   zdict      zstd's trainer (fastCover) picked frequent segments
     *   finalized  covering samples (covering_samples) as content, with zstd's
     *              entropy tables
     *   raw        covering samples as raw content */
    std::string method;
};

/*
 * A dictionary of at most `capacity` bytes (plus zstd's header for "finalized")
 * for samples like these, newest first.  Every candidate the samples allow is
 * built from three quarters of them and judged on the rest, by compressed size
 * at `level`: zstd's trainer wins on varied mail, the newest samples verbatim win
 * on templated mail (the template is the dictionary).  With few samples only the
 * raw content is possible.  Throws CodecError(train_failed) when there is nothing
 * to train on.
 */
TrainedDictionary train_dictionary(const std::vector<std::string> &samples, std::size_t capacity,
                                   int level);

} // namespace pm::content
