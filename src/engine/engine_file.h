// The engine file container: a versioned header, a section table and checksummed sections.
//
// Layout (all integers little-endian; docs/engine-format.md is the normative description):
//   [0, 64)        FileHeader: magic "REFITENG", format version, file size, section count,
//                  table offset, table checksum, header checksum
//   table          section_count × SectionEntry (kind, offset, size, alignment, XXH64 checksum)
//   sections       payloads, each at an offset that is a multiple of its alignment, so weights
//                  can be used in place from an mmapped file
//
// EngineFile::Open validates everything before it hands out any byte: magic, version, header and
// table checksums, the recorded file size against the real one, every section's range (in bounds,
// aligned, no overlap with the header, the table or another section) and every section's checksum.
// An EngineFile is immutable and safe to read from several threads; section views stay valid while
// it lives.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "refit/status.h"

namespace refit::engine {

// Bumped on any incompatible change of the container, of a section's encoding or of what a plan's
// node means. 2: a Conv may carry a fused residual (ir/fused_ops.h), which a version-1 reader
// would ignore.
inline constexpr uint32_t kEngineFormatVersion = 2;
// The metadata's "producer": the refit release that wrote the file (also part of cache keys).
inline constexpr char kEngineProducer[] = "refit 0.1.0";
inline constexpr char kEngineMagic[8] = {'R', 'E', 'F', 'I', 'T', 'E', 'N', 'G'};
inline constexpr uint64_t kMaxSectionAlignment = 1 << 16;
inline constexpr uint32_t kMaxSections = 256;

enum class SectionKind : uint32_t {
  kMetadata = 1,  // JSON: producer, mode, CPU features required, model summary
  kPlan = 2,      // layers, buffers, execution order
  kTactics = 3,   // chosen tactic per layer and the tuner's timings
  kRefitMap = 4,  // weight slots: recipes over source weights, prototypes
  kWeights = 5,   // packed weights (absent in stripped engines)
  kSources = 6,   // optional: the source weights as built (refit map order), for LoRA bases
};
std::string_view SectionKindName(SectionKind kind);

class EngineFileWriter {
 public:
  // Adds a section; `alignment` is a power of two in [8, kMaxSectionAlignment]. Each kind at most
  // once (checked by Serialize).
  void AddSection(SectionKind kind, std::string bytes, uint64_t alignment = 64);
  // A section of `size` bytes made of borrowed chunks at increasing offsets, zero between and
  // after them (packed weights, each slot aligned): nothing is copied until the file is written,
  // and the chunks must stay valid until then.
  struct Chunk {
    uint64_t offset;
    std::string_view bytes;
  };
  void AddSection(SectionKind kind, std::vector<Chunk> chunks, uint64_t size, uint64_t alignment);
  StatusOr<std::string> Serialize() const;
  // Writes the file atomically (temporary file and rename) straight from the sections' bytes:
  // on error nothing is written. Returns the file size.
  StatusOr<uint64_t> WriteTo(const std::string& path) const;

 private:
  struct Pending {
    SectionKind kind;
    std::string owned;
    std::vector<Chunk> chunks;  // into `owned` or borrowed
    uint64_t size;
    uint64_t alignment;
  };
  // The whole file as pieces: header, table, then every section and the zeros between.
  StatusOr<std::vector<std::string_view>> Pieces(std::string* head) const;
  std::vector<Pending> sections_;
};

class EngineFile {
 public:
  static StatusOr<std::unique_ptr<EngineFile>> Open(const std::string& path);
  // Validates an in-memory image (kept alive by the EngineFile); `label` names it in errors.
  static StatusOr<std::unique_ptr<EngineFile>> FromBytes(std::string bytes, std::string label);

  uint32_t format_version() const { return version_; }
  uint64_t file_size() const { return bytes_.size(); }
  bool Has(SectionKind kind) const { return sections_.count(kind) != 0; }
  // The section's bytes; NotFound naming the section and file when absent.
  StatusOr<std::string_view> Section(SectionKind kind) const;
  std::vector<SectionKind> Kinds() const;

 private:
  EngineFile() = default;
  Status Validate();

  std::string label_;
  MappedFile mapping_;
  std::string owned_;       // for FromBytes
  std::string_view bytes_;  // the whole image
  uint32_t version_ = 0;
  std::map<SectionKind, std::string_view> sections_;
};

}  // namespace refit::engine
