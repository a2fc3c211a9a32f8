#include "engine/engine_file.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "base/file_util.h"

namespace refit::engine {
namespace {

// On-disk structures. Written and read field by field through memcpy so neither alignment nor
// struct padding of the host matters; the sizes are part of the format.
constexpr size_t kHeaderSize = 64;
constexpr size_t kEntrySize = 40;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t section_count;
  uint64_t file_size;
  uint64_t table_offset;
  uint64_t table_checksum;
  uint64_t header_checksum;  // XXH64 of bytes [0, 40) of the header
  uint64_t reserved[2];
};
static_assert(sizeof(FileHeader) == kHeaderSize);
constexpr size_t kHeaderChecksummed = 40;

struct SectionEntry {
  uint32_t kind;
  uint32_t reserved;
  uint64_t offset;
  uint64_t size;
  uint64_t alignment;
  uint64_t checksum;
};
static_assert(sizeof(SectionEntry) == kEntrySize);

uint64_t Hash(std::string_view bytes) { return XXH64(bytes.data(), bytes.size(), 0); }

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

std::string_view SectionKindName(SectionKind kind) {
  switch (kind) {
    case SectionKind::kMetadata:
      return "metadata";
    case SectionKind::kPlan:
      return "plan";
    case SectionKind::kTactics:
      return "tactics";
    case SectionKind::kRefitMap:
      return "refit map";
    case SectionKind::kWeights:
      return "weights";
    case SectionKind::kSources:
      return "sources";
  }
  return "unknown";
}

void EngineFileWriter::AddSection(SectionKind kind, std::string bytes, uint64_t alignment) {
  sections_.push_back({kind, std::move(bytes), alignment});
}

StatusOr<std::string> EngineFileWriter::Serialize() const {
  if (sections_.size() > kMaxSections) return InvalidArgument("too many engine sections");
  std::vector<SectionEntry> entries;
  uint64_t offset = AlignUp(kHeaderSize + sections_.size() * kEntrySize, 64);
  for (const Pending& s : sections_) {
    if (!IsPowerOfTwo(s.alignment) || s.alignment < 8 || s.alignment > kMaxSectionAlignment) {
      return InvalidArgument("section '" + std::string(SectionKindName(s.kind)) + "': alignment " +
                             std::to_string(s.alignment) + " is not allowed");
    }
    for (const SectionEntry& e : entries) {
      if (e.kind == uint32_t(s.kind)) {
        return InvalidArgument("section '" + std::string(SectionKindName(s.kind)) +
                               "' added twice");
      }
    }
    offset = AlignUp(offset, s.alignment);
    entries.push_back({uint32_t(s.kind), 0, offset, s.bytes.size(), s.alignment, Hash(s.bytes)});
    offset += s.bytes.size();
  }
  std::string out(offset, '\0');
  std::string table(entries.size() * kEntrySize, '\0');
  if (!entries.empty()) std::memcpy(table.data(), entries.data(), table.size());
  FileHeader h{};
  std::memcpy(h.magic, kEngineMagic, 8);
  h.version = kEngineFormatVersion;
  h.section_count = uint32_t(entries.size());
  h.file_size = out.size();
  h.table_offset = kHeaderSize;
  h.table_checksum = Hash(table);
  std::memcpy(out.data(), &h, kHeaderSize);
  h.header_checksum = Hash(std::string_view(out.data(), kHeaderChecksummed));
  std::memcpy(out.data(), &h, kHeaderSize);
  std::memcpy(out.data() + kHeaderSize, table.data(), table.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!sections_[i].bytes.empty()) {
      std::memcpy(out.data() + entries[i].offset, sections_[i].bytes.data(), entries[i].size);
    }
  }
  return out;
}

Status EngineFileWriter::WriteTo(const std::string& path) const {
  REFIT_ASSIGN_OR_RETURN(std::string bytes, Serialize());
  return WriteFileAtomically(path, bytes);
}

StatusOr<std::unique_ptr<EngineFile>> EngineFile::Open(const std::string& path) {
  std::unique_ptr<EngineFile> f(new EngineFile());
  f->label_ = "engine '" + path + "'";
  REFIT_ASSIGN_OR_RETURN(f->mapping_, MappedFile::Open(path));
  f->bytes_ = f->mapping_.bytes();
  REFIT_RETURN_IF_ERROR(f->Validate());
  return f;
}

StatusOr<std::unique_ptr<EngineFile>> EngineFile::FromBytes(std::string bytes, std::string label) {
  std::unique_ptr<EngineFile> f(new EngineFile());
  f->label_ = std::move(label);
  f->owned_ = std::move(bytes);
  f->bytes_ = f->owned_;
  REFIT_RETURN_IF_ERROR(f->Validate());
  return f;
}

Status EngineFile::Validate() {
  auto lie = [&](const std::string& what) {
    return DataLoss(label_ + ": " + what + " (the file is truncated, corrupted or not an engine)");
  };
  if (bytes_.size() < kHeaderSize) {
    return lie("only " + std::to_string(bytes_.size()) + " bytes, smaller than the header");
  }
  FileHeader h;
  std::memcpy(&h, bytes_.data(), kHeaderSize);
  if (std::memcmp(h.magic, kEngineMagic, 8) != 0) return lie("bad magic");
  if (Hash(bytes_.substr(0, kHeaderChecksummed)) != h.header_checksum) {
    return lie("header checksum mismatch");
  }
  if (h.version != kEngineFormatVersion) {
    return FailedPrecondition(label_ + ": engine format version " + std::to_string(h.version) +
                              ", this refit reads version " + std::to_string(kEngineFormatVersion) +
                              "; rebuild the engine");
  }
  if (h.reserved[0] != 0 || h.reserved[1] != 0) return lie("reserved header fields are not zero");
  if (h.file_size != bytes_.size()) {
    return lie("header records " + std::to_string(h.file_size) + " bytes, the file has " +
               std::to_string(bytes_.size()));
  }
  if (h.section_count > kMaxSections)
    return lie("section count " + std::to_string(h.section_count));
  const uint64_t table_size = uint64_t(h.section_count) * kEntrySize;
  if (h.table_offset < kHeaderSize || h.table_offset > bytes_.size() ||
      table_size > bytes_.size() - h.table_offset) {
    return lie("section table out of range");
  }
  const std::string_view table = bytes_.substr(h.table_offset, table_size);
  if (Hash(table) != h.table_checksum) return lie("section table checksum mismatch");

  std::vector<std::pair<uint64_t, uint64_t>> ranges = {
      {0, kHeaderSize}, {h.table_offset, h.table_offset + table_size}};
  for (uint32_t i = 0; i < h.section_count; ++i) {
    SectionEntry e;
    std::memcpy(&e, table.data() + i * kEntrySize, kEntrySize);
    const std::string name = "section " + std::to_string(i) + " ('" +
                             std::string(SectionKindName(SectionKind(e.kind))) + "')";
    if (SectionKindName(SectionKind(e.kind)) == "unknown") {
      return lie(name + " has unknown kind " + std::to_string(e.kind));
    }
    if (sections_.count(SectionKind(e.kind))) return lie(name + " appears twice");
    if (e.reserved != 0) return lie(name + " has a non-zero reserved field");
    if (!IsPowerOfTwo(e.alignment) || e.alignment > kMaxSectionAlignment ||
        e.offset % e.alignment != 0) {
      return lie(name + " is misaligned");
    }
    if (e.offset > bytes_.size() || e.size > bytes_.size() - e.offset) {
      return lie(name + " lies outside the file");
    }
    ranges.push_back({e.offset, e.offset + e.size});
    const std::string_view payload = bytes_.substr(e.offset, e.size);
    if (Hash(payload) != e.checksum) return lie(name + " checksum mismatch");
    sections_[SectionKind(e.kind)] = payload;
  }
  // Every byte is accounted for: ranges may not overlap, and the padding between them must be
  // zero, so that any corruption anywhere in the file is detected.
  std::sort(ranges.begin(), ranges.end());
  uint64_t covered = 0;
  for (const auto& [begin, end] : ranges) {
    if (begin == end) continue;
    if (begin < covered) return lie("sections overlap");
    for (uint64_t i = covered; i < begin; ++i) {
      if (bytes_[i] != 0) return lie("non-zero padding at offset " + std::to_string(i));
    }
    covered = end;
  }
  for (uint64_t i = covered; i < bytes_.size(); ++i) {
    if (bytes_[i] != 0) return lie("non-zero padding at offset " + std::to_string(i));
  }
  version_ = h.version;
  return Status::Ok();
}

StatusOr<std::string_view> EngineFile::Section(SectionKind kind) const {
  auto it = sections_.find(kind);
  if (it == sections_.end()) {
    return NotFound(label_ + " has no " + std::string(SectionKindName(kind)) + " section");
  }
  return it->second;
}

std::vector<SectionKind> EngineFile::Kinds() const {
  std::vector<SectionKind> kinds;
  for (const auto& [k, _] : sections_) kinds.push_back(k);
  return kinds;
}

}  // namespace refit::engine
