// ReferenceExecutor: runs an IR graph node by node with the reference kernels.
//
// Create() checks that every node has a kernel (the error names the operator, the node and the
// opset) so an unsupported model fails before any work, and evaluates the graph's derived weights
// once (their recipes over the graph's source weights at that moment; a later change to the source
// weights needs a new executor). Run() validates the inputs against the
// graph (missing, unexpected, wrong dtype, wrong rank or fixed dimension) and frees intermediate
// values after their last use. The executor keeps a reference to the graph, which must outlive it.
// Run() is const and may be called from several threads at once.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "backend/reference/kernel.h"
#include "base/thread_pool.h"
#include "ir/graph.h"

namespace refit::reference {

struct ExecutorOptions {
  int threads = 1;
};

class ReferenceExecutor {
 public:
  static StatusOr<std::unique_ptr<ReferenceExecutor>> Create(const ir::Graph& graph,
                                                             const ExecutorOptions& options = {});

  // Runs the graph. `inputs` maps graph input names to tensors; the result maps every graph
  // output name to its tensor.
  StatusOr<std::map<std::string, Tensor>> Run(
      const std::map<std::string, TensorView>& inputs) const;

 private:
  ReferenceExecutor(const ir::Graph& graph, const ExecutorOptions& options);
  Status CheckInputs(const std::map<std::string, TensorView>& inputs) const;

  const ir::Graph& graph_;
  std::map<std::string, Tensor> derived_;         // materialised derived weights
  std::vector<std::vector<size_t>> frees_after_;  // per node: values whose last use it is
  std::vector<std::string> value_names_;
  std::unique_ptr<ThreadPool> pool_;
  ExecutorOptions options_;
};

// Checks every node of `graph` has a reference kernel; the error lists the first unsupported one.
Status CheckSupported(const ir::Graph& graph);

}  // namespace refit::reference
