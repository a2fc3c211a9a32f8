// WeightRecipe: building, structural validation, printing and the byte format. Evaluation is in
// weight_recipe_eval.cc.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "ir/weight_recipe.h"

namespace refit::ir {
namespace {

constexpr char kMagic[4] = {'R', 'F', 'W', 'R'};
constexpr uint16_t kFormatVersion = 1;
constexpr size_t kMaxSteps = 4096;
constexpr size_t kMaxRank = 8;
constexpr size_t kMaxArgs = 4096;
constexpr size_t kMaxNameBytes = 4096;
// op, name length, arg count, int count, dtype, eps, axis: the least one step takes.
constexpr size_t kMinStepBytes = 1 + 4 + 4 + 4 + 1 + 4 + 8;

bool IsFloatType(DataType t) {
  return t == DataType::kF32 || t == DataType::kF16 || t == DataType::kBF16 || t == DataType::kF64;
}

template <typename T>
void Put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (checked at configure time)
  out.append(b, sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  template <typename T>
  bool Get(T& v) {
    if (b_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool GetBytes(size_t n, std::string& s) {
    if (b_.size() - pos_ < n) return false;
    s.assign(b_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  size_t remaining() const { return b_.size() - pos_; }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

std::string IntsToString(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(v[i]);
  }
  return s + "]";
}

}  // namespace

std::string_view RecipeOpName(WeightRecipe::Op op) {
  switch (op) {
    case WeightRecipe::Op::kSource:
      return "source";
    case WeightRecipe::Op::kTranspose:
      return "transpose";
    case WeightRecipe::Op::kReshape:
      return "reshape";
    case WeightRecipe::Op::kCast:
      return "cast";
    case WeightRecipe::Op::kBnScale:
      return "bn_scale";
    case WeightRecipe::Op::kBnBias:
      return "bn_bias";
    case WeightRecipe::Op::kConcat:
      return "concat";
    case WeightRecipe::Op::kExpand:
      return "expand";
    case WeightRecipe::Op::kSlice:
      return "slice";
  }
  return "unknown";
}

void WeightRecipe::NoteSource(const std::string& name) {
  if (std::find(sources_.begin(), sources_.end(), name) == sources_.end()) {
    sources_.push_back(name);
  }
}

int WeightRecipe::AddSource(const std::string& name) {
  Step s;
  s.source = name;
  NoteSource(name);
  steps_.push_back(std::move(s));
  return int(steps_.size()) - 1;
}

int WeightRecipe::AddTranspose(int x, std::vector<int64_t> perm) {
  steps_.push_back(Step{Op::kTranspose, "", {x}, std::move(perm)});
  return int(steps_.size()) - 1;
}

int WeightRecipe::AddReshape(int x, std::vector<int64_t> shape) {
  steps_.push_back(Step{Op::kReshape, "", {x}, std::move(shape)});
  return int(steps_.size()) - 1;
}

int WeightRecipe::AddCast(int x, DataType dtype) {
  steps_.push_back(Step{Op::kCast, "", {x}, {}, dtype});
  return int(steps_.size()) - 1;
}

int WeightRecipe::AddBnScale(int w, int gamma, int var, float eps, int64_t channel_axis) {
  steps_.push_back(
      Step{Op::kBnScale, "", {w, gamma, var}, {}, DataType::kUndefined, eps, channel_axis});
  return int(steps_.size()) - 1;
}

int WeightRecipe::AddBnBias(int b, int gamma, int beta, int mean, int var, float eps) {
  steps_.push_back(
      Step{Op::kBnBias, "", {b, gamma, beta, mean, var}, {}, DataType::kUndefined, eps, 0});
  return int(steps_.size()) - 1;
}

int WeightRecipe::AddConcat(std::vector<int32_t> inputs, int64_t axis) {
  steps_.push_back(Step{Op::kConcat, "", std::move(inputs), {}, DataType::kUndefined, 0, axis});
  return int(steps_.size()) - 1;
}

int WeightRecipe::AddExpand(int x, std::vector<int64_t> shape) {
  steps_.push_back(Step{Op::kExpand, "", {x}, std::move(shape)});
  return int(steps_.size()) - 1;
}

int WeightRecipe::AddSlice(int x, int64_t axis, int64_t start, int64_t end) {
  steps_.push_back(Step{Op::kSlice, "", {x}, {start, end}, DataType::kUndefined, 0, axis});
  return int(steps_.size()) - 1;
}

int WeightRecipe::Append(const WeightRecipe& other) {
  const int32_t base = int32_t(steps_.size());
  for (Step s : other.steps_) {
    for (int32_t& a : s.args) {
      if (a >= 0) a += base;
    }
    if (s.op == Op::kSource) NoteSource(s.source);
    steps_.push_back(std::move(s));
  }
  return int(steps_.size()) - 1;
}

WeightRecipe WeightRecipe::FromSource(const std::string& name) {
  WeightRecipe r;
  r.AddSource(name);
  return r;
}

Status WeightRecipe::Validate() const {
  if (steps_.empty()) return InvalidArgument("weight recipe has no steps");
  if (steps_.size() > kMaxSteps) {
    return InvalidArgument("weight recipe has " + std::to_string(steps_.size()) +
                           " steps, at most " + std::to_string(kMaxSteps) + " allowed");
  }
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    const auto where = [&] {  // built only for an error
      return "weight recipe step " + std::to_string(i) + " (" + std::string(RecipeOpName(s.op)) +
             ")";
    };
    size_t want_args = 1;
    switch (s.op) {
      case Op::kSource:
        want_args = 0;
        if (s.source.empty() || s.source.size() > kMaxNameBytes)
          return InvalidArgument(where() + ": source name is empty or too long");
        break;
      case Op::kTranspose: {
        std::set<int64_t> seen(s.ints.begin(), s.ints.end());
        bool ok = s.ints.size() <= kMaxRank && seen.size() == s.ints.size();
        for (int64_t p : s.ints) ok = ok && p >= 0 && p < int64_t(s.ints.size());
        if (!ok)
          return InvalidArgument(where() + ": " + IntsToString(s.ints) + " is no permutation");
        break;
      }
      case Op::kReshape:
      case Op::kExpand: {
        bool ok = s.ints.size() <= kMaxRank;
        for (int64_t d : s.ints) ok = ok && d >= 0;
        if (!ok) return InvalidArgument(where() + ": bad shape " + IntsToString(s.ints));
        break;
      }
      case Op::kCast:
        if (!IsFloatType(s.dtype)) return InvalidArgument(where() + ": target is not a float type");
        break;
      case Op::kSlice:
        if (s.ints.size() != 2 || s.ints[0] < 0 || s.ints[1] < s.ints[0] || s.axis < 0 ||
            s.axis >= int64_t(kMaxRank)) {
          return InvalidArgument(where() + ": needs 0 <= start <= end and an axis in [0, " +
                                 std::to_string(kMaxRank) + ")");
        }
        break;
      case Op::kBnScale:
      case Op::kBnBias:
        want_args = s.op == Op::kBnScale ? 3 : 5;
        if (!std::isfinite(s.eps) || s.eps < 0)
          return InvalidArgument(where() + ": epsilon must be finite and >= 0");
        if (s.axis < 0 || s.axis >= int64_t(kMaxRank))
          return InvalidArgument(where() + ": channel axis " + std::to_string(s.axis));
        break;
      case Op::kConcat:
        want_args = s.args.size();
        if (s.args.empty() || s.args.size() > kMaxArgs || s.axis < 0 || s.axis >= int64_t(kMaxRank))
          return InvalidArgument(where() + ": needs 1.." + std::to_string(kMaxArgs) +
                                 " inputs and an axis in [0, " + std::to_string(kMaxRank) + ")");
        break;
      default:
        return InvalidArgument(where() + ": unknown step kind " + std::to_string(int(s.op)));
    }
    if (s.args.size() != want_args) {
      return InvalidArgument(where() + ": has " + std::to_string(s.args.size()) +
                             " arguments, expected " + std::to_string(want_args));
    }
    for (size_t a = 0; a < s.args.size(); ++a) {
      const bool optional = s.op == Op::kBnBias && a == 0 && s.args[a] == -1;
      if (!optional && (s.args[a] < 0 || size_t(s.args[a]) >= i)) {
        return InvalidArgument(where() + ": argument " + std::to_string(a) + " refers to step " +
                               std::to_string(s.args[a]) + ", not an earlier step");
      }
    }
  }
  return Status::Ok();
}

std::string WeightRecipe::StepToString(int index) const {
  if (index < 0) return "none";
  const Step& s = steps_[size_t(index)];
  if (s.op == Op::kSource) return s.source;
  std::string out = std::string(RecipeOpName(s.op)) + "(";
  for (size_t a = 0; a < s.args.size(); ++a) {
    if (a) out += ", ";
    out += StepToString(s.args[a]);
  }
  char eps[32];
  std::snprintf(eps, sizeof(eps), "%g", double(s.eps));
  switch (s.op) {
    case Op::kTranspose:
      out += ", perm=" + IntsToString(s.ints);
      break;
    case Op::kReshape:
    case Op::kExpand:
      out += ", shape=" + IntsToString(s.ints);
      break;
    case Op::kCast:
      out += ", " + std::string(DataTypeName(s.dtype));
      break;
    case Op::kBnScale:
      out += ", eps=" + std::string(eps) + ", axis=" + std::to_string(s.axis);
      break;
    case Op::kBnBias:
      out += ", eps=" + std::string(eps);
      break;
    case Op::kConcat:
      out += ", axis=" + std::to_string(s.axis);
      break;
    case Op::kSlice:
      out += ", axis=" + std::to_string(s.axis) + ", " + std::to_string(s.ints[0]) + ":" +
             std::to_string(s.ints[1]);
      break;
    default:
      break;
  }
  return out + ")";
}

std::string WeightRecipe::ToString() const {
  return steps_.empty() ? "<empty>" : StepToString(int(steps_.size()) - 1);
}

std::string WeightRecipe::Serialize() const {
  std::string out(kMagic, sizeof(kMagic));
  Put<uint16_t>(out, kFormatVersion);
  Put<uint32_t>(out, uint32_t(steps_.size()));
  for (const Step& s : steps_) {
    Put<uint8_t>(out, uint8_t(s.op));
    Put<uint32_t>(out, uint32_t(s.source.size()));
    out += s.source;
    Put<uint32_t>(out, uint32_t(s.args.size()));
    for (int32_t a : s.args) Put<int32_t>(out, a);
    Put<uint32_t>(out, uint32_t(s.ints.size()));
    for (int64_t v : s.ints) Put<int64_t>(out, v);
    Put<uint8_t>(out, uint8_t(s.dtype));
    Put<float>(out, s.eps);
    Put<int64_t>(out, s.axis);
  }
  return out;
}

StatusOr<WeightRecipe> WeightRecipe::Parse(std::string_view bytes) {
  Reader r(bytes);
  std::string magic;
  uint16_t version = 0;
  uint32_t n = 0;
  if (!r.GetBytes(4, magic) || magic != std::string(kMagic, 4))
    return DataLoss("weight recipe: bad magic");
  if (!r.Get(version) || version != kFormatVersion) {
    return DataLoss("weight recipe: format version " + std::to_string(version) + ", expected " +
                    std::to_string(kFormatVersion));
  }
  if (!r.Get(n) || n == 0 || n > kMaxSteps || n > r.remaining() / kMinStepBytes)
    return DataLoss("weight recipe: step count " + std::to_string(n) + " does not fit the data");
  WeightRecipe recipe;
  for (uint32_t i = 0; i < n; ++i) {
    // Built only for an error: a load parses every recipe of the engine.
    const auto where = [i] { return "weight recipe step " + std::to_string(i) + ": "; };
    Step s;
    uint8_t op = 0, dtype = 0;
    uint32_t len = 0, nargs = 0, nints = 0;
    if (!r.Get(op) || !r.Get(len) || len > kMaxNameBytes || !r.GetBytes(len, s.source))
      return DataLoss(where() + "truncated or oversized source name");
    if (!r.Get(nargs) || nargs > kMaxArgs || nargs > r.remaining() / 4)
      return DataLoss(where() + "argument count " + std::to_string(nargs) + " does not fit");
    s.args.resize(nargs);
    for (int32_t& a : s.args) r.Get(a);
    if (!r.Get(nints) || nints > kMaxRank || nints > r.remaining() / 8)
      return DataLoss(where() + "int count " + std::to_string(nints) + " does not fit");
    s.ints.resize(nints);
    for (int64_t& v : s.ints) r.Get(v);
    if (!r.Get(dtype) || !r.Get(s.eps) || !r.Get(s.axis)) return DataLoss(where() + "truncated");
    if (dtype > uint8_t(DataType::kBool)) return DataLoss(where() + "unknown dtype");
    s.op = Op(op);
    s.dtype = DataType(dtype);
    if (s.op == Op::kSource) recipe.NoteSource(s.source);
    recipe.steps_.push_back(std::move(s));
  }
  if (r.remaining() != 0) {
    return DataLoss("weight recipe: " + std::to_string(r.remaining()) + " trailing bytes");
  }
  Status st = recipe.Validate();
  if (!st.ok()) return DataLoss(st.message());
  return recipe;
}

}  // namespace refit::ir
