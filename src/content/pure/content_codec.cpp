/* content_codec.cpp — see content_codec.h.  No PostgreSQL headers here. */
#include "content/pure/content_codec.h"

/* The magicless frame format and the tunable trainer are zstd's "experimental"
 * API; Debian's libzstd exports them and they are stable in practice.  What we
 * write with them is pinned by the codec byte of every frame. */
#define ZSTD_STATIC_LINKING_ONLY
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zstd.h>

#include <algorithm>
#include <new>
#include <unordered_set>

#include "content/pure/sample_cover.h"

namespace pm::content {

namespace {

constexpr std::uint8_t kHasText = 0x01;
constexpr std::uint8_t kHasHtml = 0x02;
constexpr std::uint8_t kHasHeaders = 0x04;
constexpr std::uint8_t kHeadersJsonb = 0x08;
constexpr std::uint8_t kKnownFlags = kHasText | kHasHtml | kHasHeaders | kHeadersJsonb;

std::string hex_byte(unsigned char c)
{
    static constexpr char digits[] = "0123456789abcdef";
    return std::string("0x") + digits[c >> 4] + digits[c & 0x0f];
}

[[noreturn]] void fail(CodecErrorKind kind, const std::string &message)
{
    throw CodecError(kind, message);
}

std::string zstd_error(std::size_t code)
{
    return ZSTD_getErrorName(code);
}

/* Compression parameters every frame is written with; see the header comment. */
void set_frame_parameters(ZSTD_CCtx *cctx)
{
    const std::pair<ZSTD_cParameter, int> params[] = {
        {ZSTD_c_format, ZSTD_f_zstd1_magicless},
        {ZSTD_c_checksumFlag, 1},
        {ZSTD_c_contentSizeFlag, 1},
        {ZSTD_c_dictIDFlag, 0},
        /* Bodies above ~8 kB would otherwise copy the dictionary's tables (hundreds
         * of kB) into the context on every call, which costs more than compressing. */
        {ZSTD_c_forceAttachDict, ZSTD_dictForceAttach},
    };
    for (const auto &[param, value] : params) {
        const std::size_t rc = ZSTD_CCtx_setParameter(cctx, param, value);
        if (ZSTD_isError(rc))
            fail(CodecErrorKind::compress_failed,
                 "could not configure zstd compression: " + zstd_error(rc));
    }
}

} // namespace

/* ------------------------------------------------------------ body payload */

std::size_t logical_size(const BodyParts &parts) noexcept
{
    std::size_t n = 0;
    for (const auto *part : {&parts.text, &parts.html})
        if (*part)
            n += (*part)->size();
    if (parts.headers)
        n += parts.headers_text_size ? *parts.headers_text_size : parts.headers->size();
    return n;
}

std::string pack_body(const BodyParts &parts)
{
    const std::optional<std::string_view> *ordered[] = {&parts.text, &parts.html, &parts.headers};
    const std::uint8_t bits[] = {kHasText, kHasHtml, kHasHeaders};

    std::string out;
    out.reserve(logical_size(parts) + max_payload_overhead);
    std::uint8_t flags = 0;
    for (int i = 0; i < 3; i++)
        if (*ordered[i])
            flags |= bits[i];
    const bool headers_jsonb = parts.headers && parts.headers_text_size;
    if (headers_jsonb)
        flags |= kHeadersJsonb;
    out.push_back(static_cast<char>(flags));
    for (const auto *part : ordered) {
        if (!*part)
            continue;
        if ((*part)->size() > UINT32_MAX)
            fail(CodecErrorKind::size_limit, "a body part is larger than 4 GB");
        append_varint(out, static_cast<std::uint32_t>((*part)->size()));
    }
    if (headers_jsonb)
        append_varint(out, *parts.headers_text_size);
    for (const auto *part : ordered)
        if (*part)
            out.append((*part)->data(), (*part)->size());
    return out;
}

BodyParts unpack_body(std::string_view payload)
{
    if (payload.empty())
        fail(CodecErrorKind::truncated, "body payload is empty");
    const auto flags = static_cast<std::uint8_t>(payload[0]);
    if (flags & ~kKnownFlags)
        fail(CodecErrorKind::bad_layout,
             "body payload flags " + hex_byte(flags) + " have unknown bits set");

    std::optional<std::string_view> *ordered[3];
    BodyParts parts;
    ordered[0] = &parts.text;
    ordered[1] = &parts.html;
    ordered[2] = &parts.headers;
    const std::uint8_t bits[] = {kHasText, kHasHtml, kHasHeaders};
    static const char *const names[] = {"text", "html", "headers"};

    if ((flags & kHeadersJsonb) && !(flags & kHasHeaders))
        fail(CodecErrorKind::bad_layout, "body payload says its headers are jsonb but has none");

    std::size_t pos = 1;
    std::uint32_t lengths[3] = {0, 0, 0};
    std::uint64_t total = 0;
    for (int i = 0; i < 3; i++) {
        if (!(flags & bits[i]))
            continue;
        if (!read_varint(payload, pos, lengths[i]))
            fail(CodecErrorKind::bad_varint,
                 std::string("body payload length of the ") + names[i] + " part is malformed");
        total += lengths[i];
    }
    if (flags & kHeadersJsonb) {
        std::uint32_t text_size = 0;
        if (!read_varint(payload, pos, text_size))
            fail(CodecErrorKind::bad_varint, "body payload text size of the headers is malformed");
        parts.headers_text_size = text_size;
    }
    if (total != payload.size() - pos)
        fail(CodecErrorKind::bad_layout,
             "body payload parts add up to " + std::to_string(total) + " bytes but " +
                 std::to_string(payload.size() - pos) + " bytes follow the lengths");
    for (int i = 0; i < 3; i++) {
        if (!(flags & bits[i]))
            continue;
        *ordered[i] = payload.substr(pos, lengths[i]);
        pos += lengths[i];
    }
    return parts;
}

/* --------------------------------------------------------------- varints */

bool read_varint(std::string_view in, std::size_t &pos, std::uint32_t &value) noexcept
{
    std::uint64_t v = 0;
    for (int shift = 0, i = 0; i < 5; i++, shift += 7) {
        if (pos >= in.size())
            return false;
        const auto byte = static_cast<std::uint8_t>(in[pos++]);
        v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            /* One encoding per value: a trailing zero group is overlong. */
            if (i > 0 && byte == 0)
                return false;
            if (v > UINT32_MAX)
                return false;
            value = static_cast<std::uint32_t>(v);
            return true;
        }
    }
    return false;
}

void append_varint(std::string &out, std::uint32_t value)
{
    while (value >= 0x80) {
        out.push_back(static_cast<char>((value & 0x7f) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

/* ----------------------------------------------------------- dictionaries */

Dictionary::Dictionary(std::uint32_t id, std::string bytes) : id_(id), bytes_(std::move(bytes)) {}

Dictionary::~Dictionary()
{
    ZSTD_freeDDict(ddict_);
    ZSTD_freeCDict(cdict_);
}

const ZSTD_DDict *Dictionary::ddict()
{
    if (ddict_ == nullptr) {
        ddict_ = ZSTD_createDDict(bytes_.data(), bytes_.size());
        if (ddict_ == nullptr)
            fail(CodecErrorKind::bad_dictionary,
                 "dictionary " + std::to_string(id_) + " (" + std::to_string(bytes_.size()) +
                     " bytes) cannot be loaded for decompression");
    }
    return ddict_;
}

const ZSTD_CDict *Dictionary::cdict(int level)
{
    if (cdict_ != nullptr && cdict_level_ == level)
        return cdict_;
    ZSTD_freeCDict(cdict_);
    cdict_ = ZSTD_createCDict(bytes_.data(), bytes_.size(), level);
    cdict_level_ = level;
    if (cdict_ == nullptr)
        fail(CodecErrorKind::bad_dictionary,
             "dictionary " + std::to_string(id_) + " (" + std::to_string(bytes_.size()) +
                 " bytes) cannot be loaded for compression");
    return cdict_;
}

std::size_t Dictionary::memory_bytes() const noexcept
{
    return sizeof(*this) + bytes_.capacity() + ZSTD_sizeof_DDict(ddict_) +
           ZSTD_sizeof_CDict(cdict_);
}

/* ----------------------------------------------------------------- frames */

FrameInfo inspect_frame(std::string_view frame)
{
    FrameInfo info;
    if (frame.empty())
        fail(CodecErrorKind::truncated, "frame is empty");
    const char codec = frame[0];
    if (codec != kCodecZstd && codec != kCodecZstdDict)
        fail(CodecErrorKind::unknown_codec,
             "unknown codec byte " + hex_byte(static_cast<unsigned char>(codec)));
    std::size_t pos = 1;
    if (codec == kCodecZstdDict) {
        info.has_dictionary = true;
        if (!read_varint(frame, pos, info.dictionary_id))
            fail(CodecErrorKind::bad_varint, "frame dictionary id is malformed");
    }
    info.header_size = pos;

    ZSTD_frameHeader zfh;
    const std::size_t rc = ZSTD_getFrameHeader_advanced(&zfh, frame.data() + pos,
                                                        frame.size() - pos,
                                                        ZSTD_f_zstd1_magicless);
    if (ZSTD_isError(rc))
        fail(CodecErrorKind::frame_header, "zstd frame header is invalid: " + zstd_error(rc));
    if (rc > 0)
        fail(CodecErrorKind::truncated, "zstd frame header is cut short (" +
                                            std::to_string(frame.size() - pos) + " bytes, needs " +
                                            std::to_string(rc) + ")");
    if (zfh.frameType != ZSTD_frame)
        fail(CodecErrorKind::frame_header, "zstd frame is a skippable frame");
    if (zfh.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN)
        fail(CodecErrorKind::frame_header, "zstd frame does not declare its content size");
    if (!zfh.checksumFlag)
        fail(CodecErrorKind::frame_header, "zstd frame carries no checksum");
    if (zfh.dictID != 0)
        fail(CodecErrorKind::frame_header, "zstd frame names a zstd dictionary id");
    if (zfh.frameContentSize > kMaxContentSize)
        fail(CodecErrorKind::size_limit,
             "zstd frame declares " + std::to_string(zfh.frameContentSize) + " bytes of content");
    info.content_size = zfh.frameContentSize;
    return info;
}

Codec::Codec()
{
    cctx_ = ZSTD_createCCtx();
    dctx_ = ZSTD_createDCtx();
    if (cctx_ == nullptr || dctx_ == nullptr) {
        ZSTD_freeCCtx(cctx_);
        ZSTD_freeDCtx(dctx_);
        throw std::bad_alloc();
    }
    try {
        set_frame_parameters(cctx_);
        for (const auto &[param, value] :
             {std::pair<ZSTD_dParameter, int>{ZSTD_d_format, ZSTD_f_zstd1_magicless},
              /* Up to the 1 GB content bound: large bodies are single-segment frames. */
              std::pair<ZSTD_dParameter, int>{ZSTD_d_windowLogMax, 30}}) {
            const std::size_t rc = ZSTD_DCtx_setParameter(dctx_, param, value);
            if (ZSTD_isError(rc))
                fail(CodecErrorKind::zstd,
                     "could not configure zstd decompression: " + zstd_error(rc));
        }
    } catch (...) {
        ZSTD_freeCCtx(cctx_);
        ZSTD_freeDCtx(dctx_);
        throw;
    }
}

Codec::~Codec()
{
    ZSTD_freeCCtx(cctx_);
    ZSTD_freeDCtx(dctx_);
}

int min_level() noexcept
{
    return std::max(ZSTD_minCLevel(), -7);
}

int max_level() noexcept
{
    return ZSTD_maxCLevel();
}

std::string Codec::compress(std::string_view input, int level, Dictionary *dict)
{
    if (input.size() > kMaxContentSize)
        fail(CodecErrorKind::size_limit,
             "cannot compress " + std::to_string(input.size()) + " bytes in one frame");

    std::size_t rc = ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_only);
    if (!ZSTD_isError(rc))
        rc = ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
    /* A CDict carries its level; referencing none clears the previous one. */
    if (!ZSTD_isError(rc))
        rc = ZSTD_CCtx_refCDict(cctx_, dict ? dict->cdict(level) : nullptr);
    if (ZSTD_isError(rc))
        fail(CodecErrorKind::compress_failed, "could not set up zstd: " + zstd_error(rc));

    std::string out;
    out.push_back(dict ? kCodecZstdDict : kCodecZstd);
    if (dict)
        append_varint(out, dict->id());
    const std::size_t header = out.size();
    const std::size_t bound = ZSTD_compressBound(input.size());
    out.resize(header + bound);
    rc = ZSTD_compress2(cctx_, out.data() + header, bound, input.data(), input.size());
    if (ZSTD_isError(rc))
        fail(CodecErrorKind::compress_failed, "zstd compression failed: " + zstd_error(rc));
    out.resize(header + rc);
    return out;
}

std::string Codec::decompress(std::string_view frame, std::size_t max_output,
                              const DictionaryLookup &lookup)
{
    std::string out;
    out.resize(decompress_into(frame, max_output, lookup, out));
    return out;
}

std::size_t Codec::decompress_into(std::string_view frame, std::size_t max_output,
                                   const DictionaryLookup &lookup, std::string &buffer)
{
    const FrameInfo info = inspect_frame(frame);
    if (info.content_size > max_output)
        fail(CodecErrorKind::size_limit,
             "frame declares " + std::to_string(info.content_size) + " bytes of content, at most " +
                 std::to_string(max_output) + " expected");

    const ZSTD_DDict *ddict = nullptr;
    if (info.has_dictionary) {
        Dictionary *dict = lookup ? lookup(info.dictionary_id) : nullptr;
        if (dict == nullptr)
            fail(CodecErrorKind::missing_dictionary,
                 "dictionary " + std::to_string(info.dictionary_id) + " does not exist");
        ddict = dict->ddict();
    }

    std::size_t rc = ZSTD_DCtx_reset(dctx_, ZSTD_reset_session_only);
    if (!ZSTD_isError(rc))
        rc = ZSTD_DCtx_refDDict(dctx_, ddict);
    if (ZSTD_isError(rc))
        fail(CodecErrorKind::zstd, "could not set up zstd: " + zstd_error(rc));

    const auto size = static_cast<std::size_t>(info.content_size);
    if (buffer.size() < size)
        buffer.resize(size);
    /* Capacity is exactly the declared size: a second frame appended to the
     * first (or any output beyond the size) fails instead of being returned. */
    rc = ZSTD_decompressDCtx(dctx_, buffer.data(), size, frame.data() + info.header_size,
                             frame.size() - info.header_size);
    if (ZSTD_isError(rc))
        fail(CodecErrorKind::zstd, "zstd: " + zstd_error(rc));
    if (rc != size)
        fail(CodecErrorKind::size_mismatch, "frame declares " + std::to_string(size) +
                                                " bytes but decodes to " + std::to_string(rc));
    return size;
}

/* -------------------------------------------------------------- training */

namespace {

/* Raw content: the samples covering_samples() picks.  zstd reaches bytes at the
 * end of a dictionary most cheaply, so the newest sample (first in `samples`) goes
 * last. */
std::string raw_content(const std::vector<const std::string *> &samples, std::size_t capacity)
{
    std::vector<std::string_view> views;
    views.reserve(samples.size());
    for (const std::string *s : samples)
        views.emplace_back(*s);
    const std::vector<std::size_t> chosen = covering_samples(views, capacity, kCoveredEnough);
    std::string out;
    if (chosen.empty()) /* the newest sample alone is larger: keep its tail */
        out = samples.front()->substr(samples.front()->size() - capacity);
    for (auto it = chosen.rbegin(); it != chosen.rend(); ++it)
        out += *samples[*it];
    return out;
}

struct Flat {
    std::string buffer;
    std::vector<std::size_t> sizes;
};

Flat flatten(const std::vector<const std::string *> &samples)
{
    Flat f;
    for (const std::string *s : samples) {
        f.buffer += *s;
        f.sizes.push_back(s->size());
    }
    return f;
}

std::optional<std::string> zdict_cover(const Flat &train, std::size_t capacity, int level)
{
    std::string dict(capacity, '\0');
    ZDICT_fastCover_params_t params{};
    params.d = 8;
    params.steps = 4;
    params.nbThreads = 1;
    params.accel = 1;
    params.zParams.compressionLevel = level;
    const std::size_t rc = ZDICT_optimizeTrainFromBuffer_fastCover(
        dict.data(), dict.size(), train.buffer.data(), train.sizes.data(),
        static_cast<unsigned>(train.sizes.size()), &params);
    if (ZDICT_isError(rc))
        return std::nullopt;
    dict.resize(rc);
    return dict;
}

/* Chosen content (the newest samples) with zstd's header and entropy tables fitted
 * to all the samples: for templated mail the template itself is the best content. */
std::optional<std::string> zdict_finalized(const std::string &content, const Flat &train,
                                           std::size_t capacity, int level)
{
    std::string dict(capacity + 4096, '\0');
    ZDICT_params_t params{};
    params.compressionLevel = level;
    const std::size_t rc = ZDICT_finalizeDictionary(
        dict.data(), dict.size(), content.data(), content.size(), train.buffer.data(),
        train.sizes.data(), static_cast<unsigned>(train.sizes.size()), params);
    if (ZDICT_isError(rc))
        return std::nullopt;
    dict.resize(rc);
    return dict;
}

} // namespace

TrainedDictionary train_dictionary(const std::vector<std::string> &samples, std::size_t capacity,
                                   int level)
{
    /* Identical samples (newsletters) teach nothing more than one copy. */
    std::vector<const std::string *> distinct;
    std::unordered_set<std::string_view> seen;
    for (const std::string &s : samples) {
        if (s.empty() || !seen.insert(s).second)
            continue;
        distinct.push_back(&s);
    }
    if (distinct.empty())
        fail(CodecErrorKind::train_failed, "no non-empty samples to train a dictionary from");
    capacity = std::max<std::size_t>(capacity, ZDICT_DICTSIZE_MIN);

    /* A fourth of the samples is held out to judge the candidates on mail they did
     * not see; with few samples everything trains and the raw content wins by default.
     * Which fourth by a hash of the content, not by position: samples come in the
     * order mail was sent, and a campaign sending its templates in turn would put
     * whole templates into the held-out part, which no candidate could know. */
    std::vector<const std::string *> train, holdout;
    for (const std::string *s : distinct)
        (distinct.size() >= 8 && std::hash<std::string_view>{}(*s) % 4 == 3 ? holdout : train)
            .push_back(s);
    if (train.empty()) /* (tiny sets: the hash put everything aside) */
        std::swap(train, holdout);

    std::vector<TrainedDictionary> candidates;
    TrainedDictionary raw;
    raw.bytes = raw_content(train, capacity);
    raw.method = "raw";
    /* zstd ignores raw dictionaries under 8 bytes; they would help nothing anyway. */
    if (raw.bytes.size() >= 8) {
        /* A raw dictionary must not look like a zstd dictionary (magic 0xEC30A437). */
        if (raw.bytes.compare(0, 4, "\x37\xA4\x30\xEC", 4) == 0)
            raw.bytes.insert(raw.bytes.begin(), '\n');
        candidates.push_back(raw);
    }
    /* zstd's trainer wants a handful of samples and errors out below that. */
    if (train.size() >= 12) {
        const Flat flat = flatten(train);
        if (std::optional<std::string> d = zdict_cover(flat, capacity, level))
            candidates.push_back({std::move(*d), "zdict"});
        if (raw.bytes.size() >= 8)
            if (std::optional<std::string> d = zdict_finalized(raw.bytes, flat, capacity, level))
                candidates.push_back({std::move(*d), "finalized"});
    }
    if (candidates.empty())
        fail(CodecErrorKind::train_failed,
             "samples too small to train a dictionary (" + std::to_string(raw.bytes.size()) +
                 " bytes)");
    if (candidates.size() == 1 || holdout.empty())
        return candidates.back();

    Codec codec;
    std::size_t best = 0, best_size = SIZE_MAX;
    for (std::size_t c = 0; c < candidates.size(); c++) {
        Dictionary dict(0, candidates[c].bytes);
        std::size_t total = 0;
        for (const std::string *s : holdout)
            total += codec.compress(*s, level, &dict).size();
        if (total < best_size) {
            best = c;
            best_size = total;
        }
    }
    /* The held-out fourth was only for judging: the content-based winners are cheap
     * to build again from every sample (templates seen only there included). */
    if (candidates[best].method == "raw" || candidates[best].method == "finalized") {
        TrainedDictionary all = candidates[best];
        std::string content = raw_content(distinct, capacity);
        if (content.compare(0, 4, "\x37\xA4\x30\xEC", 4) == 0)
            content.insert(content.begin(), '\n');
        if (all.method == "raw") {
            all.bytes = std::move(content);
            return all;
        }
        if (std::optional<std::string> d = zdict_finalized(content, flatten(distinct), capacity, level)) {
            all.bytes = std::move(*d);
            return all;
        }
    }
    return candidates[best];
}

} // namespace pm::content
