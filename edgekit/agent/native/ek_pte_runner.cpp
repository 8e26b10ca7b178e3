// ek_pte_runner: runs the "forward" method of an ExecuTorch .pte with the C++ runtime (as an app would), driven
// over a line protocol on stdin/stdout so the Python agent (PteRunnerModel in ../agent.py) can time it and read
// its outputs. Built for the Arm images by edgekit/emulators/arm_image.py against the executorch wheel's libraries.
//
//   start:  "ready LOAD_NS N_IN N_OUT", then "in K DTYPE D0,D1,..." per input, "out K DTYPE DIMS" per output
//   set K NBYTES [D0 D1 ..]<LF><NBYTES raw bytes>
//                                       -> ok | error ...  With dims, input K takes that shape (same rank, each dim
//                                          at most the declared one, which is the program's upper bound for a
//                                          dynamic dim); without, the declared shape. NBYTES must match the shape.
//   run N                               -> ok T1 .. TN   (ns per execute(), steady clock; the inputs are set
//                                          again before each one, untimed, as the plan may reuse their memory)
//   generate N P0 P1 ..                 -> ok K1 .. KN PREFILL_NS D1 .. D(N-1)   greedy tokens of a cached decoder
//                                          (inputs: tokens i64 (1, T), positions i64 (T,); output 0: the last
//                                          token's logits): one execute() over the prompt P (prefill, positions
//                                          0..len(P)-1), then one per further token (T = 1), each new token the
//                                          argmax of the logits (the first of equal maxima, as numpy's). PREFILL_NS
//                                          and D: set_input + execute() + argmax of each step, steady clock.
//                                          Leaves the inputs at the last step's. | error ...
//   insns                               -> ok I1 .. IN   (user-space instructions of each execute() of the last
//                                          run or generate, from the CPU's counter) | error ... (no counter here)
//   get                                 -> per output: "out K NBYTES D0,D1,.."<LF><NBYTES raw bytes>  (the
//                                          output's shape after the last execute(), which a dynamic one sets)
//   mem                                 -> ok VMHWM_BYTES VMRSS_BYTES  (the peak leaves out "profile"'s traced
//                                          copy where the kernel lets the runner reset VmHWM after it)
//   profile N                           -> "etdump NBYTES T1 .. TN U1 .. UN"<LF><NBYTES raw bytes>  (N
//                                          executions of a second instance of the method, loaded for this command
//                                          with ExecuTorch's ETDumpGen event tracer attached and dropped after it,
//                                          each one after an execute() of the usual, untraced method: T the ns of
//                                          the traced ones, U of the untraced ones, alternated so that both see
//                                          the same machine; the bytes are the ETDump (one block per traced
//                                          execute(): every instruction, and XNNPACK's per-operator events inside
//                                          a delegate call). "run" never sees the tracer.) | error ...
//   quit / EOF                          -> exit 0
#include <executorch/devtools/etdump/etdump_flatcc.h>
#include <executorch/extension/data_loader/mmap_data_loader.h>
#include <executorch/runtime/core/exec_aten/util/dim_order_util.h>
#include <executorch/runtime/core/exec_aten/util/tensor_util.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/runtime.h>

#include <linux/perf_event.h>
#include <malloc.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace executorch::runtime;
using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::aten::TensorImpl;
using executorch::etdump::ETDumpGen;
using executorch::extension::MmapDataLoader;

namespace {

// Method allocator: EValues, tensor headers, delegate handles, all made at load. Temp allocator: per-kernel scratch
// that the runtime resets after each instruction. Fixed arenas, so execute() itself does not malloc; new[] without
// () leaves the pages untouched, so unused space costs no RSS.
constexpr size_t kMethodArena = 16 << 20, kTempArena = 16 << 20;

[[noreturn]] void die(const std::string& msg) {
  std::printf("error %s\n", msg.c_str());
  std::fflush(stdout);
  std::exit(1);
}

// Every runtime failure is reported with ExecuTorch's name and numeric code, so the agent can tell them apart.
std::string err(const char* what, Error e) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s: %s (code %d)", what, executorch::runtime::to_string(e), int(e));
  return buf;
}

const char* dtype_name(ScalarType t) {
  switch (t) {
    case ScalarType::Float: return "f32";
    case ScalarType::Char: return "i8";
    case ScalarType::Byte: return "u8";
    case ScalarType::Int: return "i32";
    case ScalarType::Long: return "i64";
    case ScalarType::Half: return "f16";
    case ScalarType::Double: return "f64";
    case ScalarType::Bool: return "bool";
    default: return "other";
  }
}

std::string dims(Span<const int32_t> s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r.empty() ? "scalar" : r;  // 0-d tensor: keep the field non-empty so the line splits cleanly
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The CPU's instruction counter for this process, user space only: timer ticks and page faults stay out, so the
// same execute() gives the same count every time (on hardware, and exactly under QEMU -icount). -1 where the
// kernel, CPU or permissions offer none.
int open_instruction_counter() {
  perf_event_attr attr{};
  attr.type = PERF_TYPE_HARDWARE;
  attr.size = sizeof attr;
  attr.config = PERF_COUNT_HW_INSTRUCTIONS;
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  return int(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
}

// One input the agent can write: a buffer we own for the whole session plus the tensor header that points at it.
// set_input() copies it into the method's planned input memory (or shares the pointer if inputs are not planned).
// The buffer is sized for the declared shape, which for a dynamic input is its upper bound, so any shape "set"
// accepts fits without reallocating; the header is DYNAMIC_BOUND so resize_tensor() can change its sizes in place.
struct Input {
  std::vector<uint8_t> data;
  std::vector<TensorImpl::SizesType> bound;  // the declared sizes: the largest shape "set" accepts
  std::vector<TensorImpl::SizesType> sizes;  // the current ones (the header points here)
  std::vector<TensorImpl::DimOrderType> dim_order;
  std::vector<TensorImpl::StridesType> strides;
  std::unique_ptr<TensorImpl> impl;
};

// Reads exactly n bytes from stdin into dst (or discards them when dst is null, to stay in sync after an error).
bool read_bytes(uint8_t* dst, size_t n) {
  char sink[4096];
  while (n > 0) {
    size_t chunk = dst ? n : std::min(n, sizeof sink);
    std::cin.read(dst ? reinterpret_cast<char*>(dst) : sink, chunk);
    if (size_t(std::cin.gcount()) != chunk) return false;
    if (dst) dst += chunk;
    n -= chunk;
  }
  return true;
}

// Parses the optional dims of "set" into `shape` (the declared sizes when none are given) and checks them against
// the input's bound; returns "" when fine, else what is wrong. The bound is checked per dim, not just on the element
// count ExecuTorch checks, so a shape that fits the buffer but not the program (T > max_seq_len) is refused here.
std::string parse_shape(std::istringstream& cmd, const Input& in, std::array<TensorImpl::SizesType, 16>& shape,
                        size_t& rank) {
  rank = 0;
  std::string tok;
  while (cmd >> tok) {
    char* end = nullptr;
    const long long d = std::strtoll(tok.c_str(), &end, 10);
    if (tok.empty() || *end != '\0') return "dim '" + tok + "' is not an integer";
    if (rank == shape.size()) return "more than " + std::to_string(shape.size()) + " dims";
    if (d < 0 || d > 0x7fffffff) return "dim " + std::to_string(rank) + " is " + tok + ", out of range";
    shape[rank++] = TensorImpl::SizesType(d);
  }
  if (rank == 0) {  // no dims: the declared shape, as before dims existed
    std::copy(in.bound.begin(), in.bound.end(), shape.begin());
    rank = in.bound.size();
    return "";
  }
  if (rank != in.bound.size())
    return std::to_string(rank) + " dims given, the input has " + std::to_string(in.bound.size());
  for (size_t i = 0; i < rank; ++i)
    if (shape[i] > in.bound[i])
      return "dim " + std::to_string(i) + " is " + std::to_string(shape[i]) + ", the program's bound is " +
             std::to_string(in.bound[i]);
  return "";
}

// VmHWM and VmRSS of this process, in kB as the kernel reports them (-1 where not found).
void status_kb(long long& hwm, long long& rss) {
  hwm = rss = -1;
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return;
  char line[256];
  while (std::fgets(line, sizeof line, f)) {
    std::sscanf(line, "VmHWM: %lld kB", &hwm);
    std::sscanf(line, "VmRSS: %lld kB", &rss);
  }
  std::fclose(f);
}

// The peak before the first "profile" (its traced copy of the method is not the app's footprint), or -1.
long long peak_before_profile_kb = -1;

void mem_line() {
  // VmHWM is the peak resident set since exec (or since "profile" reset it: the peak before counts then).
  long long hwm, rss;
  status_kb(hwm, rss);
  if (hwm < 0 || rss < 0) std::printf("error VmHWM/VmRSS not found\n");
  else std::printf("ok %lld %lld\n", std::max(hwm, peak_before_profile_kb) * 1024, rss * 1024);
}

// After "profile" (its traced copy and tracer freed by then): the freed heap is handed back, and the peak resident
// set goes back to what it was, where the kernel allows resetting VmHWM (/proc/self/clear_refs, "5").
void forget_profile_peak(long long before_kb) {
  peak_before_profile_kb = std::max(peak_before_profile_kb, before_kb);
#if defined(__GLIBC__)
  malloc_trim(0);  // the freed copy back to the system, so VmRSS is the app's again
#endif
  FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f) {
    std::fputs("5", f);
    std::fclose(f);
  }
}


// "profile N": a second instance of the method, loaded with its own memory and ExecuTorch's ETDumpGen attached
// (the event tracer is given at load_method and cannot be detached, so the benched method never carries it), runs
// N times on the inputs last set, each time after one execute() of `plain` (the benched method), then is dropped.
// Answers the ETDump and each execute()'s ns, traced then untraced, or an error line.
void profile(Program& program, const MethodMeta& meta, std::vector<Input>& inputs, Method& plain, long long n) {
  ETDumpGen tracer;  // no buffer given: it grows its own (malloc) and hands the finished ETDump over
  std::vector<std::unique_ptr<uint8_t[]>> planned;
  std::vector<Span<uint8_t>> spans;
  for (size_t i = 0; i < meta.num_memory_planned_buffers(); ++i) {
    Result<int64_t> size = meta.memory_planned_buffer_size(i);
    if (!size.ok()) { std::printf("error %s\n", err("planned buffer size", size.error()).c_str()); return; }
    planned.emplace_back(new uint8_t[size.get()]);
    spans.emplace_back(planned.back().get(), size_t(size.get()));
  }
  HierarchicalAllocator planned_memory({spans.data(), spans.size()});
  std::unique_ptr<uint8_t[]> method_pool(new uint8_t[kMethodArena]), temp_pool(new uint8_t[kTempArena]);
  MemoryAllocator method_allocator(kMethodArena, method_pool.get());
  MemoryAllocator temp_allocator(kTempArena, temp_pool.get());
  MemoryManager memory_manager(&method_allocator, &planned_memory, &temp_allocator);
  std::vector<int64_t> times, untraced;
  times.reserve(size_t(n));
  untraced.reserve(size_t(n));
  {
    Result<Method> method = program.load_method("forward", &memory_manager, &tracer);
    if (!method.ok()) { std::printf("error %s\n", err("load_method(forward) with a tracer", method.error()).c_str()); return; }
    Error e = Error::Ok;
    const char* failed = "execute";
    for (long long i = 0; i < n && e == Error::Ok; ++i) {
      for (Method* m : {&plain, &method.get()}) {
        for (size_t k = 0; k < inputs.size() && e == Error::Ok; ++k)  // as "run" does, outside the clock
          e = m->set_input(EValue(Tensor(inputs[k].impl.get())), k);
        if (e != Error::Ok) { failed = "set_input"; break; }
        const int64_t a = now_ns();
        e = m->execute();
        (m == &plain ? untraced : times).push_back(now_ns() - a);
        if (e != Error::Ok) break;
      }
    }
    if (e != Error::Ok) { std::printf("error %s\n", err(failed, e).c_str()); return; }
  }  // the method (and its delegate's runtime) goes before the tracer it logs to
  executorch::etdump::ETDumpResult dump = tracer.get_etdump_data();
  if (dump.buf == nullptr || dump.size == 0) { std::printf("error the event tracer produced no ETDump\n"); return; }
  std::string head = "etdump " + std::to_string(dump.size);
  for (int64_t t : times) head += " " + std::to_string(t);
  for (int64_t t : untraced) head += " " + std::to_string(t);
  std::printf("%s\n", head.c_str());
  std::fwrite(dump.buf, 1, dump.size, stdout);
  std::free(dump.buf);  // flatcc's finalized buffer (aligned malloc: free() releases it)
}
// The index of the largest of n values, the first of equal maxima, a NaN first of all: numpy's argmax.
template <typename T>
size_t argmax(const T* v, size_t n) {
  size_t best = 0;
  for (size_t i = 0; i < n; ++i) {
    if (v[i] != v[i]) return i;  // NaN
    if (v[i] > v[best]) best = i;
  }
  return best;
}

// "generate N P..": greedy tokens of a cached decoder on the runner's clock; counts (one per execute()) when there
// is a counter. Answers one line.
void generate(Method& method, std::vector<Input>& inputs, const std::vector<long long>& prompt, long long n,
              int counter, std::vector<uint64_t>& counts) {
  counts.clear();
  if (inputs.size() != 2 || inputs[0].bound.size() != 2 || inputs[1].bound.size() != 1 ||
      inputs[0].impl->scalar_type() != ScalarType::Long || inputs[1].impl->scalar_type() != ScalarType::Long ||
      method.outputs_size() < 1) {
    std::printf("error generate needs a cached decoder: inputs tokens i64 (1, T) and positions i64 (T,)\n");
    return;
  }
  const long long max_len = inputs[0].bound[1];
  if (prompt.empty() || n < 1 || (long long)prompt.size() + n - 1 > max_len) {
    std::printf("error generate: prompt (%zu) + new tokens (%lld) exceed the decoder's context of %lld tokens\n",
                prompt.size(), n, max_len);
    return;
  }
  std::vector<long long> tokens;
  std::vector<int64_t> times;
  tokens.reserve(size_t(n));
  times.reserve(size_t(n));
  long long start = 0;
  std::vector<long long> step_tokens(prompt);
  for (long long i = 0; i < n; ++i) {
    const int64_t a = now_ns();
    const TensorImpl::SizesType t = TensorImpl::SizesType(step_tokens.size());
    int64_t* ids = reinterpret_cast<int64_t*>(inputs[0].data.data());
    int64_t* pos = reinterpret_cast<int64_t*>(inputs[1].data.data());
    for (size_t j = 0; j < step_tokens.size(); ++j) {
      ids[j] = step_tokens[j];
      pos[j] = start + (long long)j;
    }
    const TensorImpl::SizesType tok_shape[2] = {1, t}, pos_shape[1] = {t};
    Error e = resize_tensor(Tensor(inputs[0].impl.get()), {tok_shape, 2});
    if (e == Error::Ok) e = resize_tensor(Tensor(inputs[1].impl.get()), {pos_shape, 1});
    for (size_t k = 0; k < 2 && e == Error::Ok; ++k) e = method.set_input(EValue(Tensor(inputs[k].impl.get())), k);
    if (e != Error::Ok) { std::printf("error %s\n", err("generate: set_input", e).c_str()); return; }
    if (counter >= 0) {
      ioctl(counter, PERF_EVENT_IOC_RESET, 0);
      ioctl(counter, PERF_EVENT_IOC_ENABLE, 0);
    }
    e = method.execute();
    if (counter >= 0) {
      ioctl(counter, PERF_EVENT_IOC_DISABLE, 0);
      uint64_t retired = 0;
      counts.push_back(read(counter, &retired, sizeof retired) == sizeof retired ? retired : 0);
    }
    if (e != Error::Ok) { std::printf("error %s\n", err("generate: execute", e).c_str()); return; }
    const EValue& v = method.get_output(0);
    if (!v.isTensor()) { std::printf("error generate: output 0 is not a tensor\n"); return; }
    const Tensor& logits = v.toTensor();
    size_t next;
    if (logits.scalar_type() == ScalarType::Float) next = argmax(logits.const_data_ptr<float>(), size_t(logits.numel()));
    else if (logits.scalar_type() == ScalarType::Double)
      next = argmax(logits.const_data_ptr<double>(), size_t(logits.numel()));
    else { std::printf("error generate: the logits are %s, not f32\n", dtype_name(logits.scalar_type())); return; }
    times.push_back(now_ns() - a);
    tokens.push_back((long long)next);
    start += t;
    step_tokens.assign(1, (long long)next);
  }
  std::string out = "ok";
  for (long long k : tokens) out += " " + std::to_string(k);
  for (int64_t t : times) out += " " + std::to_string(t);
  std::printf("%s\n", out.c_str());
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) die("usage: ek_pte_runner MODEL.pte");
  runtime_init();  // PAL + static registration bookkeeping; kernels/XNNPACK registered by the .so initializers.

  const int64_t t0 = now_ns();
  // mmap, as an app would: weights are paged in from the file instead of copied into the heap.
  Result<MmapDataLoader> loader = MmapDataLoader::from(argv[1], MmapDataLoader::MlockConfig::NoMlock);
  if (!loader.ok()) die(err("open model", loader.error()));
  Result<Program> program = Program::load(&loader.get(), Program::Verification::Minimal);
  if (!program.ok()) die(err("load program", program.error()));
  Result<MethodMeta> meta = program->method_meta("forward");
  if (!meta.ok()) die(err("method_meta(forward)", meta.error()));

  // Memory planning: the exporter computed the size of each arena; allocate exactly those once, up front.
  std::vector<std::unique_ptr<uint8_t[]>> planned;
  std::vector<Span<uint8_t>> spans;
  for (size_t i = 0; i < meta->num_memory_planned_buffers(); ++i) {
    Result<int64_t> n = meta->memory_planned_buffer_size(i);
    if (!n.ok()) die(err("planned buffer size", n.error()));
    planned.emplace_back(new uint8_t[n.get()]);
    spans.emplace_back(planned.back().get(), size_t(n.get()));
  }
  HierarchicalAllocator planned_memory({spans.data(), spans.size()});
  std::unique_ptr<uint8_t[]> method_pool(new uint8_t[kMethodArena]), temp_pool(new uint8_t[kTempArena]);
  MemoryAllocator method_allocator(kMethodArena, method_pool.get());
  MemoryAllocator temp_allocator(kTempArena, temp_pool.get());
  MemoryManager memory_manager(&method_allocator, &planned_memory, &temp_allocator);

  Result<Method> method = program->load_method("forward", &memory_manager);
  if (!method.ok()) die(err("load_method(forward)", method.error()));
  const int64_t load_ns = now_ns() - t0;

  // Inputs start zeroed and are bound once, so "run" works before any "set".
  const size_t n_in = method->inputs_size(), n_out = method->outputs_size();
  std::vector<Input> inputs(n_in);
  std::ostringstream header;
  for (size_t k = 0; k < n_in; ++k) {
    Result<TensorInfo> ti = meta->input_tensor_meta(k);
    if (!ti.ok()) die(err(("input " + std::to_string(k) + " is not a tensor").c_str(), ti.error()));
    Input& in = inputs[k];
    in.data.assign(ti->nbytes(), 0);
    in.bound.assign(ti->sizes().begin(), ti->sizes().end());
    in.sizes = in.bound;
    in.dim_order.assign(ti->dim_order().begin(), ti->dim_order().end());
    in.strides.resize(in.sizes.size());
    if (!in.sizes.empty())
      executorch::runtime::dim_order_to_stride_nocheck(in.sizes.data(), in.dim_order.data(), in.sizes.size(),
                                                       in.strides.data());
    in.impl.reset(new TensorImpl(ti->scalar_type(), in.sizes.size(), in.sizes.data(), in.data.data(),
                                 in.dim_order.data(), in.strides.data(), TensorShapeDynamism::DYNAMIC_BOUND));
    Error e = method->set_input(EValue(Tensor(in.impl.get())), k);
    if (e != Error::Ok) die(err(("set_input " + std::to_string(k)).c_str(), e));
    header << "in " << k << " " << dtype_name(ti->scalar_type()) << " " << dims(ti->sizes()) << "\n";
  }
  for (size_t k = 0; k < n_out; ++k) {
    Result<TensorInfo> to = meta->output_tensor_meta(k);
    if (!to.ok()) die(err(("output " + std::to_string(k) + " is not a tensor").c_str(), to.error()));
    header << "out " << k << " " << dtype_name(to->scalar_type()) << " " << dims(to->sizes()) << "\n";
  }
  std::printf("ready %lld %zu %zu\n%s", (long long)load_ns, n_in, n_out, header.str().c_str());
  std::fflush(stdout);

  const int counter = open_instruction_counter();
  std::vector<uint64_t> counts;  // per execute() of the last "run", when there is a counter

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream cmd(line);
    std::string op;
    cmd >> op;
    if (op == "set") {
      long long k = -1, nbytes = -1;
      std::array<TensorImpl::SizesType, 16> shape{};
      size_t rank = 0;
      std::string bad;
      size_t expect = 0;  // bytes the requested shape holds
      if (!(cmd >> k >> nbytes) || nbytes < 0) {
        std::printf("error usage: set K NBYTES [D0 D1 ..]\n");
        std::fflush(stdout);
        continue;  // no byte count to skip: nothing more can be done for this line
      }
      if (k < 0 || size_t(k) >= n_in) {
        bad = "no input " + std::to_string(k) + " (the program has " + std::to_string(n_in) + ")";
      } else {
        bad = parse_shape(cmd, inputs[k], shape, rank);
        if (bad.empty()) {
          expect = executorch::runtime::elementSize(inputs[k].impl->scalar_type());
          for (size_t i = 0; i < rank; ++i) expect *= size_t(shape[i]);
          if (size_t(nbytes) != expect)
            bad = "got " + std::to_string(nbytes) + " bytes, the shape takes " + std::to_string(expect);
        }
      }
      if (!bad.empty()) {
        // Still consume the payload so the stream stays aligned on the next command.
        if (!read_bytes(nullptr, size_t(nbytes))) die("eof while reading input bytes");
        std::printf("error set %lld: %s\n", k, bad.c_str());
      } else {
        Input& in = inputs[k];
        if (!read_bytes(in.data.data(), size_t(nbytes))) die("eof while reading input bytes");
        // Our header first (it cannot fail: the shape is within the buffer), then set_input, which resizes the
        // method's own input to it and copies the bytes; ExecuTorch refuses there a new shape for a static input.
        Error e = resize_tensor(Tensor(in.impl.get()), {shape.data(), rank});
        if (e == Error::Ok) e = method->set_input(EValue(Tensor(in.impl.get())), size_t(k));
        if (e != Error::Ok) std::printf("error set %lld: %s\n", k, err("set_input", e).c_str());
        else std::printf("ok\n");
      }
    } else if (op == "run") {
      long long n = 0;
      if (!(cmd >> n) || n < 1) { std::printf("error usage: run N (N >= 1)\n"); std::fflush(stdout); continue; }
      std::vector<int64_t> times;
      times.reserve(size_t(n));
      counts.clear();
      Error e = Error::Ok;
      const char* failed = "execute";
      for (long long i = 0; i < n && e == Error::Ok; ++i) {
        // Inputs again before every execute(), outside the clock: the memory plan may reuse an input's planned
        // buffer for later intermediates once the input is consumed (a decoder's token ids are), so a second
        // execute() would read garbage. set_input() only copies our bytes back (no allocation).
        for (size_t k = 0; k < n_in && e == Error::Ok; ++k)
          e = method->set_input(EValue(Tensor(inputs[k].impl.get())), k);
        if (e != Error::Ok) { failed = "set_input"; break; }
        if (counter >= 0) {
          ioctl(counter, PERF_EVENT_IOC_RESET, 0);
          ioctl(counter, PERF_EVENT_IOC_ENABLE, 0);
        }
        const int64_t a = now_ns();
        e = method->execute();
        times.push_back(now_ns() - a);
        if (counter >= 0) {
          ioctl(counter, PERF_EVENT_IOC_DISABLE, 0);
          uint64_t retired = 0;
          counts.push_back(read(counter, &retired, sizeof retired) == sizeof retired ? retired : 0);
        }
      }
      if (e != Error::Ok) {
        std::printf("error %s\n", err(failed, e).c_str());
      } else {
        std::string out = "ok";
        for (int64_t t : times) out += " " + std::to_string(t);
        std::printf("%s\n", out.c_str());
      }
    } else if (op == "generate") {
      long long n = 0, tok = 0;
      std::vector<long long> prompt;
      bool ok = bool(cmd >> n);
      while (ok && cmd >> tok) prompt.push_back(tok);
      if (!ok || n < 1 || prompt.empty() || !cmd.eof()) std::printf("error usage: generate N P0 P1 .. (N >= 1)\n");
      else generate(method.get(), inputs, prompt, n, counter, counts);
    } else if (op == "insns") {
      if (counter < 0) {
        std::printf("error no instruction counter on this device\n");
      } else {
        std::string out = "ok";
        for (uint64_t c : counts) out += " " + std::to_string(c);
        std::printf("%s\n", out.c_str());
      }
    } else if (op == "get") {
      for (size_t k = 0; k < n_out; ++k) {
        const EValue& v = method->get_output(k);
        if (!v.isTensor()) { std::printf("error output %zu is not a tensor\n", k); break; }
        const Tensor& t = v.toTensor();
        std::printf("out %zu %zu %s\n", k, t.nbytes(), dims({t.sizes().data(), t.sizes().size()}).c_str());
        std::fwrite(t.const_data_ptr(), 1, t.nbytes(), stdout);
      }
    } else if (op == "mem") {
      mem_line();
    } else if (op == "profile") {
      long long n = 0;
      if (!(cmd >> n) || n < 1) std::printf("error usage: profile N (N >= 1)\n");
      else {
        long long hwm, rss;
        status_kb(hwm, rss);
        profile(program.get(), meta.get(), inputs, method.get(), n);
        std::fflush(stdout);
        forget_profile_peak(hwm);
      }
    } else if (op == "quit") {
      std::fflush(stdout);
      return 0;
    } else if (!op.empty()) {
      std::printf("error unknown command '%s'\n", op.c_str());
    } else {
      continue;  // blank line: nothing to answer
    }
    std::fflush(stdout);
  }
  return 0;
}
