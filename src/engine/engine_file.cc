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
  const uint64_t size = bytes.size();
  sections_.push_back({kind, std::move(bytes), {}, size, alignment});
}

void EngineFileWriter::AddSection(SectionKind kind, std::vector<Chunk> chunks, uint64_t size,
                                  uint64_t alignment) {
  sections_.push_back({kind, std::string(), std::move(chunks), size, alignment});
}

namespace {

// Zeros for the gaps between pieces: section alignment is at most 64 KiB.
const char* Zeros() {
  static const std::string* zeros = new std::string(kMaxSectionAlignment, '\0');
  return zeros->data();
}

void AddZeros(uint64_t n, std::vector<std::string_view>* out) {
  while (n > 0) {
    const uint64_t k = std::min<uint64_t>(n, kMaxSectionAlignment);
    out->emplace_back(Zeros(), size_t(k));
    n -= k;
  }
}

}  // namespace

StatusOr<std::vector<std::string_view>> EngineFileWriter::Pieces(std::string* head) const {
  if (sections_.size() > kMaxSections) return InvalidArgument("too many engine sections");
  // Each section's bytes as pieces (chunks and the zeros between them), checked and hashed.
  std::vector<std::vector<std::string_view>> bodies(sections_.size());
  std::vector<SectionEntry> entries;
  uint64_t offset = AlignUp(kHeaderSize + sections_.size() * kEntrySize, 64);
  for (size_t i = 0; i < sections_.size(); ++i) {
    const Pending& s = sections_[i];
    const std::string name(SectionKindName(s.kind));
    if (!IsPowerOfTwo(s.alignment) || s.alignment < 8 || s.alignment > kMaxSectionAlignment) {
      return InvalidArgument("section '" + name + "': alignment " + std::to_string(s.alignment) +
                             " is not allowed");
    }
    for (const SectionEntry& e : entries) {
      if (e.kind == uint32_t(s.kind)) return InvalidArgument("section '" + name + "' added twice");
    }
    std::vector<Chunk> chunks = s.chunks;
    if (chunks.empty() && !s.owned.empty()) chunks.push_back({0, s.owned});
    std::vector<std::string_view>& body = bodies[i];
    uint64_t at = 0;
    for (const Chunk& c : chunks) {
      if (c.offset < at || c.bytes.size() > s.size || c.offset > s.size - c.bytes.size()) {
        return Internal("section '" + name + "': chunks overlap or overrun the section");
      }
      AddZeros(c.offset - at, &body);
      if (!c.bytes.empty()) body.push_back(c.bytes);
      at = c.offset + c.bytes.size();
    }
    AddZeros(s.size - at, &body);
    XXH64_state_t* state = XXH64_createState();
    XXH64_reset(state, 0);
    for (std::string_view piece : body) XXH64_update(state, piece.data(), piece.size());
    const uint64_t checksum = XXH64_digest(state);
    XXH64_freeState(state);
    // An empty section has nothing to align: it is recorded where the previous one ends (a
    // stripped engine's empty weights section would otherwise pad the file by up to 4 KiB).
    const uint64_t alignment = s.size == 0 ? 1 : s.alignment;
    offset = AlignUp(offset, alignment);
    entries.push_back({uint32_t(s.kind), 0, offset, s.size, alignment, checksum});
    offset += s.size;
  }
  std::string table(entries.size() * kEntrySize, '\0');
  if (!entries.empty()) std::memcpy(table.data(), entries.data(), table.size());
  FileHeader h{};
  std::memcpy(h.magic, kEngineMagic, 8);
  h.version = kEngineFormatVersion;
  h.section_count = uint32_t(entries.size());
  h.file_size = offset;
  h.table_offset = kHeaderSize;
  h.table_checksum = Hash(table);
  head->assign(kHeaderSize, '\0');
  std::memcpy(head->data(), &h, kHeaderSize);
  h.header_checksum = Hash(std::string_view(head->data(), kHeaderChecksummed));
  std::memcpy(head->data(), &h, kHeaderSize);
  *head += table;
  std::vector<std::string_view> pieces{*head};
  uint64_t at = head->size();
  for (size_t i = 0; i < entries.size(); ++i) {
    AddZeros(entries[i].offset - at, &pieces);
    pieces.insert(pieces.end(), bodies[i].begin(), bodies[i].end());
    at = entries[i].offset + entries[i].size;
  }
  return pieces;
}

StatusOr<std::string> EngineFileWriter::Serialize() const {
  std::string head;
  REFIT_ASSIGN_OR_RETURN(std::vector<std::string_view> pieces, Pieces(&head));
  size_t total = 0;
  for (std::string_view p : pieces) total += p.size();
  std::string out;
  out.reserve(total);
  for (std::string_view p : pieces) out.append(p.data(), p.size());
  return out;
}

StatusOr<uint64_t> EngineFileWriter::WriteTo(const std::string& path) const {
  std::string head;
  REFIT_ASSIGN_OR_RETURN(std::vector<std::string_view> pieces, Pieces(&head));
  uint64_t total = 0;
  for (std::string_view p : pieces) total += p.size();
  REFIT_RETURN_IF_ERROR(WriteFileAtomically(path, pieces));
  return total;
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

namespace {
// The offset of the first non-zero byte of bytes[begin, end), or `end`: eight bytes at a time (a
// weights section is 4096-aligned, so padding runs to kilobytes).
uint64_t FirstNonZero(std::string_view bytes, uint64_t begin, uint64_t end) {
  uint64_t i = begin;
  for (; i < end && i % 8 != 0; ++i) {
    if (bytes[i] != 0) return i;
  }
  for (; i + 8 <= end; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    if (word != 0) break;
  }
  for (; i < end; ++i) {
    if (bytes[i] != 0) return i;
  }
  return end;
}
}  // namespace

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
    const auto name = [&] {  // built only for an error
      return "section " + std::to_string(i) + " ('" +
             std::string(SectionKindName(SectionKind(e.kind))) + "')";
    };
    if (SectionKindName(SectionKind(e.kind)) == "unknown") {
      return lie(name() + " has unknown kind " + std::to_string(e.kind));
    }
    if (sections_.count(SectionKind(e.kind))) return lie(name() + " appears twice");
    if (e.reserved != 0) return lie(name() + " has a non-zero reserved field");
    if (!IsPowerOfTwo(e.alignment) || e.alignment > kMaxSectionAlignment ||
        e.offset % e.alignment != 0) {
      return lie(name() + " is misaligned");
    }
    if (e.offset > bytes_.size() || e.size > bytes_.size() - e.offset) {
      return lie(name() + " lies outside the file");
    }
    ranges.push_back({e.offset, e.offset + e.size});
    const std::string_view payload = bytes_.substr(e.offset, e.size);
    if (Hash(payload) != e.checksum) return lie(name() + " checksum mismatch");
    sections_[SectionKind(e.kind)] = payload;
  }
  // Every byte is accounted for: ranges may not overlap, and the padding between them must be
  // zero, so that any corruption anywhere in the file is detected.
  std::sort(ranges.begin(), ranges.end());
  uint64_t covered = 0;
  for (const auto& [begin, end] : ranges) {
    if (begin == end) continue;
    if (begin < covered) return lie("sections overlap");
    if (const uint64_t bad = FirstNonZero(bytes_, covered, begin); bad < begin) {
      return lie("non-zero padding at offset " + std::to_string(bad));
    }
    covered = end;
  }
  if (const uint64_t bad = FirstNonZero(bytes_, covered, bytes_.size()); bad < bytes_.size()) {
    return lie("non-zero padding at offset " + std::to_string(bad));
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
