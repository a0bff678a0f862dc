/*
 * storage_key_sha256.h — SHA-256 of a storage key's input chunks with PostgreSQL's own
 * pg_cryptohash (so keys match the built-in sha256() byte for byte).  Every caller that
 * computes a key in the server (pm.storage_key, pm.body_storage_key, pm_content's puts)
 * hashes through this one function.  Raises through pg_call, so call it from C++.
 */
#pragma once

#include "core/pure/storage_key.h"

#include <cstddef>

namespace pm {

storage_key::Digest storage_key_sha256(const storage_key::Chunk *chunks, std::size_t count);

} // namespace pm
