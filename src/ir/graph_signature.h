// Graph signature: a small, name-free fingerprint of an imported graph's architecture.
//
// An engine keeps the signature of the graph it was built from, not the ONNX file. Refitting from
// another export of the same architecture whose exporter named the initializers differently
// compares the new graph's signature with the stored one and, when they agree, pairs weights by
// their position (first-use order).
//
// Hash definition (FNV-1a 64 over a serialised byte string; every field is tagged and every string
// and list length-prefixed so that different structures cannot serialise to the same bytes):
//  - Graph inputs, in order: dtype and rank (not dims, not symbolic dim names). Input k has the
//    canonical id "i<k>".
//  - Nodes, in order: op_type, domain, the canonical ids of the inputs, the output count (and which
//    outputs are present), then the attributes sorted by name: name, kind and value (ints, floats
//    by bit pattern, strings, lists of them; tensors by dtype, shape and bytes; kinds refit does
//    not represent, such as subgraphs, by kind only). Output m of node n has the id "n<n>.<m>".
//  - A weight (graph.weights entry) gets "w<ordinal>", its index in first-use order, when it is
//    first read; its dtype and shape (never its values) are hashed at that point. "" (an absent
//    optional input) stays "". Any other name (a derived weight, an undefined value) hashes as "?":
//    the signature is meant for a graph straight from the importer, which has neither.
//  - Graph outputs: their canonical ids. A weight named directly as a graph output counts as read
//    there (after all nodes), so it gets a position too.
// Never hashed: value names, node names, weight names, weight values, the opset, `fused`.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "refit/status.h"

namespace refit::ir {

struct GraphSignature {
  uint64_t hash = 0;  // structure only: never value names, node names or weight values
  int64_t nodes = 0;
  // "Conv" -> 20; ops outside the default domain are keyed "<domain>::<op_type>".
  std::map<std::string, int> op_counts;
  std::vector<std::string> weights;  // source weight names in first-use order (position = index)
};

// Computed on a graph straight from the importer (before passes). Pure function of `graph`.
GraphSignature ComputeGraphSignature(const Graph& graph);
// Same, and also returns the serialised bytes that `hash` is computed over (the engine cache hashes
// them with a wider hash).
GraphSignature ComputeGraphSignature(const Graph& graph, std::string* serialized);

// Maps the names of `other`'s weights to `expected`'s, by position. Fails (InvalidArgument) when
// the signatures differ, with a message that names `other_label` and lists the first differences:
// node counts, op counts that differ ("Conv: expected 20, found 19"), weight counts, else "same
// operators, other connections or attributes". Returns: expected weight name -> other's name.
StatusOr<std::map<std::string, std::string>> MatchWeightsByPosition(const GraphSignature& expected,
                                                                    const GraphSignature& other,
                                                                    const std::string& other_label);

}  // namespace refit::ir
