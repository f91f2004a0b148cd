// The CUDA emulator's streams, events and graphs (see core/emu/cuda_emu.h).
//
// Work runs when it is issued, whatever its stream, except while the stream captures: then it
// becomes a node of the capture's graph. A node depends on the node its stream captured last and
// on whatever the stream waited for through events (cudaEventRecord on a capturing stream keeps
// the stream's last nodes in the event; cudaStreamWaitEvent adds them to the waiting stream's, so
// a stream that waits on such an event joins the capture: a fork). cudaStreamEndCapture on the
// stream that began the capture (its origin) requires every node to be an ancestor of the origin's
// last nodes — every branch joined back — or fails with cudaErrorStreamCaptureUnjoined, as CUDA
// does. A graph launch runs the nodes in one order their dependencies allow (set_graph_order).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/emu/cuda_emu.h"

namespace normlab::emu {
namespace {
struct Node {
  std::function<int()> work;
  std::vector<int> deps;  // earlier nodes of the same graph, sorted, unique
  bool on_origin;         // issued on the stream that began the capture
};
struct Capture {
  cudaStream_t origin = nullptr;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  bool invalidated = false, ended = false;
  std::vector<Node> nodes;
};
}  // namespace
}  // namespace normlab::emu

struct CUstream_st {
  std::shared_ptr<normlab::emu::Capture> cap;  // the capture it takes part in (began or joined), or null
  std::vector<int> last;                       // while it captures: the nodes its next node depends on
};
struct CUevent_st {
  unsigned flags = cudaEventDefault;
  std::chrono::steady_clock::time_point t;
  bool recorded = false;
  bool captured = false;                     // last recorded on a capturing stream:
  std::weak_ptr<normlab::emu::Capture> cap;  // that capture,
  std::vector<int> last;                     // and the stream's last nodes then
};
struct CUgraph_st {
  std::vector<normlab::emu::Node> nodes;
};
struct CUgraphExec_st {
  std::vector<normlab::emu::Node> nodes;
};

namespace normlab::emu {
namespace {

std::mutex capture_mu;                // guards the streams' and events' capture state
std::vector<CUstream_st*> capturing;  // the streams taking part in a capture now
std::atomic<GraphOrder> graph_order{GraphOrder::capture};
std::atomic<int64_t> branch_nodes{0};

cudaError_t fail(cudaError_t e, const std::string& what) {
  set_error(e, what.c_str(), false);
  return e;
}

void invalidate_captures_locked() {  // capture_mu held
  for (CUstream_st* s : capturing) s->cap->invalidated = true;
}

void merge(std::vector<int>& into, const std::vector<int>& more) {
  std::vector<int> out;
  std::set_union(into.begin(), into.end(), more.begin(), more.end(), std::back_inserter(out));
  into.swap(out);
}

// Leaves the stream's capture (capture_mu held).
void detach_locked(CUstream_st* s) {
  s->cap.reset();
  s->last.clear();
  std::erase(capturing, s);
}

// Whether every node is an ancestor of (or one of) the origin's last nodes.
bool all_joined(const std::vector<Node>& nodes, const std::vector<int>& last) {
  std::vector<char> seen(nodes.size(), 0);
  std::vector<int> todo = last;
  while (!todo.empty()) {
    const int n = todo.back();
    todo.pop_back();
    if (seen[static_cast<std::size_t>(n)]) continue;
    seen[static_cast<std::size_t>(n)] = 1;
    for (int d : nodes[static_cast<std::size_t>(n)].deps) todo.push_back(d);
  }
  return std::all_of(seen.begin(), seen.end(), [](char c) { return c != 0; });
}

// The order a launch runs the nodes in: Kahn's algorithm, taking among the nodes whose dependencies
// have run the first captured one — of the origin's first (origin_first), of the branches' first
// (branches_first), or of all (capture: the capture order itself, since a node depends on earlier ones).
std::vector<std::size_t> run_order(const std::vector<Node>& nodes, GraphOrder o) {
  const std::size_t n = nodes.size();
  std::vector<int> waiting(n, 0);
  std::vector<std::vector<std::size_t>> users(n);
  for (std::size_t i = 0; i < n; ++i) {
    waiting[i] = static_cast<int>(nodes[i].deps.size());
    for (int d : nodes[i].deps) users[static_cast<std::size_t>(d)].push_back(i);
  }
  std::vector<char> done(n, 0);
  std::vector<std::size_t> order;
  const auto preferred = [&](std::size_t i) {
    return o == GraphOrder::capture || (o == GraphOrder::origin_first) == nodes[i].on_origin;
  };
  while (order.size() < n) {
    std::size_t pick = n;  // the first ready node of the preferred kind, else the first ready node
    for (std::size_t i = 0; i < n; ++i) {
      if (done[i] || waiting[i] != 0) continue;
      if (pick == n) pick = i;
      if (preferred(i)) {
        pick = i;
        break;
      }
    }
    done[pick] = 1;
    order.push_back(pick);
    for (std::size_t u : users[pick]) --waiting[u];
  }
  return order;
}

}  // namespace

bool capture_active() {
  std::lock_guard<std::mutex> lock(capture_mu);
  return !capturing.empty();
}
bool waits_on_capture(cudaStream_t s) {
  std::lock_guard<std::mutex> lock(capture_mu);
  return s ? s->cap != nullptr : !capturing.empty();
}
cudaError_t break_captures(cudaError_t e, const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(capture_mu);
    invalidate_captures_locked();
  }
  return fail(e, why + " (the capture is invalidated)");
}
cudaError_t malloc_breaks_capture() {
  std::lock_guard<std::mutex> lock(capture_mu);
  bool unsafe = false;
  for (CUstream_st* s : capturing) unsafe = unsafe || s->cap->mode != cudaStreamCaptureModeRelaxed;
  if (!unsafe) return cudaSuccess;
  invalidate_captures_locked();  // (under the lock that read the modes: break_captures would take it again)
  return fail(cudaErrorStreamCaptureUnsupported,
              "cudaMalloc during a stream capture that is not in cudaStreamCaptureModeRelaxed (the capture is "
              "invalidated)");
}
void set_graph_order(GraphOrder o) { graph_order = o; }
int64_t branch_nodes_captured() { return branch_nodes; }

int issue(cudaStream_t s, std::function<int()> work) {
  {
    std::lock_guard<std::mutex> lock(capture_mu);
    if (s && s->cap) {
      Capture& c = *s->cap;
      if (!c.invalidated) {
        c.nodes.push_back({std::move(work), s->last, s == c.origin});
        if (s != c.origin) ++branch_nodes;
        s->last = {static_cast<int>(c.nodes.size()) - 1};
      }
      return cudaSuccess;
    }
    if (!s && !capturing.empty()) {
      invalidate_captures_locked();
      return fail(cudaErrorStreamCaptureImplicit,
                  "work on the legacy stream while a stream captures (the capture is invalidated)");
    }
  }
  return work();
}

}  // namespace normlab::emu

using namespace normlab::emu;

cudaError_t cudaStreamCreate(cudaStream_t* s) {
  *s = new CUstream_st;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (!s) return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: null stream");
  if (waits_on_capture(s)) return fail(cudaErrorStreamCaptureUnsupported, "cudaStreamDestroy: the stream is capturing");
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  if (!s) return fail(cudaErrorStreamCaptureUnsupported, "cudaStreamBeginCapture: the legacy stream cannot capture");
  std::lock_guard<std::mutex> lock(capture_mu);
  if (s->cap) return fail(cudaErrorInvalidValue, "cudaStreamBeginCapture: the stream captures already");
  s->cap = std::make_shared<Capture>();
  s->cap->origin = s;
  s->cap->mode = mode;
  s->last.clear();
  capturing.push_back(s);
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  *graph = nullptr;
  std::shared_ptr<Capture> c;
  std::vector<int> last;
  {
    std::lock_guard<std::mutex> lock(capture_mu);
    if (!s || !s->cap) return fail(cudaErrorInvalidValue, "cudaStreamEndCapture: the stream is not capturing");
    if (s->cap->origin != s)
      return fail(cudaErrorInvalidValue, "cudaStreamEndCapture: the stream joined a capture that another stream began");
    c = s->cap;
    last = s->last;
    c->ended = true;
    for (CUstream_st* t : std::vector<CUstream_st*>(capturing))
      if (t->cap == c) detach_locked(t);  // the origin and every stream that joined it
  }
  if (c->invalidated)
    return fail(cudaErrorStreamCaptureInvalidated, "cudaStreamEndCapture: the capture was invalidated (above)");
  if (!all_joined(c->nodes, last))
    return fail(cudaErrorStreamCaptureUnjoined,
                "cudaStreamEndCapture: work forked to another stream was not joined back to the origin stream");
  *graph = new CUgraph_st{std::move(c->nodes)};
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status) {
  std::lock_guard<std::mutex> lock(capture_mu);
  *status = !s || !s->cap         ? cudaStreamCaptureStatusNone
            : s->cap->invalidated ? cudaStreamCaptureStatusInvalidated
                                  : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, std::size_t* count) {
  if (!graph || nodes) return fail(cudaErrorInvalidValue, "cudaGraphGetNodes: the emulator gives the count only");
  *count = graph->nodes.size();
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!graph) return fail(cudaErrorInvalidValue, "cudaGraphInstantiate: null graph");
  *exec = new CUgraphExec_st{graph->nodes};
  return cudaSuccess;
}
// The nodes run one after another in the order set_graph_order picks; the first error stops it.
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return fail(cudaErrorInvalidValue, "cudaGraphLaunch: null graph");
  return static_cast<cudaError_t>(issue(stream, [exec] {
    for (std::size_t i : run_order(exec->nodes, graph_order))
      if (const int e = exec->nodes[i].work(); e != cudaSuccess) return e;
    return int(cudaSuccess);
  }));
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags) {
  *e = new CUevent_st;
  (*e)->flags = flags;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!e) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: null event");
  std::lock_guard<std::mutex> lock(capture_mu);
  if (s && s->cap) {  // a record inside the capture: the event stands for the stream's last nodes
    e->captured = true;
    e->cap = s->cap;
    e->last = s->last;
    return cudaSuccess;
  }
  if (!s && !capturing.empty()) {
    invalidate_captures_locked();
    return fail(cudaErrorStreamCaptureImplicit,
                "cudaEventRecord on the legacy stream while a stream captures (the capture is invalidated)");
  }
  e->captured = false;
  e->cap.reset();
  e->last.clear();
  e->t = std::chrono::steady_clock::now();
  e->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned) {
  if (!e) return fail(cudaErrorInvalidResourceHandle, "cudaStreamWaitEvent: null event");
  std::lock_guard<std::mutex> lock(capture_mu);
  if (!e->captured) {  // an event of work that already ran (the emulator runs work when it is issued)
    if (s && s->cap) {
      s->cap->invalidated = true;
      return fail(cudaErrorStreamCaptureIsolation,
                  "cudaStreamWaitEvent: a capturing stream waits on an event recorded outside its capture (the "
                  "capture is invalidated)");
    }
    return cudaSuccess;
  }
  const std::shared_ptr<Capture> from = e->cap.lock();
  if (!from || from->ended)
    return fail(cudaErrorStreamCaptureIsolation,
                "cudaStreamWaitEvent: the event was recorded in a capture that has ended");
  if (!s) {
    invalidate_captures_locked();
    return fail(cudaErrorStreamCaptureImplicit,
                "cudaStreamWaitEvent: the legacy stream waits on a capturing stream (the capture is invalidated)");
  }
  if (s->cap && s->cap != from)
    return fail(cudaErrorStreamCaptureIsolation, "cudaStreamWaitEvent: the stream takes part in another capture");
  if (!s->cap) {  // joins the capture: a fork
    s->cap = from;
    s->last.clear();
    capturing.push_back(s);
  }
  merge(s->last, e->last);
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  return e ? cudaSuccess : fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: null event");
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (!a || !b || !a->recorded || !b->recorded)
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was never recorded");
  if ((a->flags | b->flags) & cudaEventDisableTiming)
    return fail(cudaErrorInvalidResourceHandle,
                "cudaEventElapsedTime: an event was created with cudaEventDisableTiming");
  *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
  return cudaSuccess;
}
