# roost.py - gdb commands for roost tasks, on a live process or a core file.
#
#   (gdb) source tools/gdb/roost.py      (or auto-loaded: docs/gdb.md)
#   (gdb) roost tasks                    every live task: id, state, wait
#                                        reason, how long, spawn site
#   (gdb) roost bt ID                    the backtrace of task ID
#   (gdb) roost gcore FILE               gcore FILE, plus the tasks' stacks
#                                        in FILE.roost (gcore drops them)
#
# gdb sees worker threads, not tasks: a parked task is a saved stack pointer
# in its task record, and its frames sit on a stack no thread is using. So
# this file reads the runtime's own structures, as src/registry.c does:
#   - every task record sits at the top of a stack slot, and slots live in
#     chunks (src/stack.c): carved one after another from the range at
#     stacks.region (stacks.nregion of them), or, beyond it, linked from
#     stacks.chunks; a slot whose record has id 0 or state dead holds no
#     task;
#   - a switched-out task's saved sp points at the registers roost__switch
#     pushed (src/arch/switch_*.S); the frame pointer and the return address
#     there start a frame-pointer walk up to the record (roost is built with
#     frame pointers; so should the program be, for its own frames).
# Everything is read from memory, nothing is called in the inferior, so a
# core file works as well as a live process. The layout constants below
# mirror src/stack.c and src/arch/; change them together.

import time

import gdb

GUARD_SIZE = 16 << 10      # stack.c: GUARD_SIZE
CHUNK_SLOTS = 64           # stack.c: CHUNK_SLOTS
STATES = {0: "runnable", 1: "running", 2: "parked", 3: "dead"}   # enum roost__state
REASONS = ["running", "chan send", "chan receive", "select", "sleep", "mutex",
           "rwmutex rlock", "rwmutex lock", "cond wait", "waitgroup wait", "once",
           "context", "io wait", "chan send (nil chan)",
           "chan receive (nil chan)"]   # error.c, in enum roost_wait_reason's order


def _global(names, field):
    """The first file-level static among names whose type has field (the
    globals are looked up by name, newest name first). A link-time optimized
    build may keep the variable's type in the debug information but not its
    location, and rename its symbol NAME.lto_priv.N: then the symbol's
    address is taken with the debug information's type."""
    def has_field(t):
        t = t.strip_typedefs()
        return t.code == gdb.TYPE_CODE_STRUCT and any(f.name == field for f in t.fields())
    for name in names:
        try:
            syms = gdb.lookup_static_symbols(name)
        except AttributeError:   # gdb before 10
            sym = gdb.lookup_static_symbol(name)
            syms = [sym] if sym else []
        try:
            sym = gdb.lookup_global_symbol(name)
            if sym:
                syms.append(sym)
        except gdb.error:
            pass
        typ = None
        for sym in syms:
            if not has_field(sym.type):
                continue
            typ = sym.type
            try:
                v = sym.value()
                if not v.is_optimized_out and v.address is not None:
                    return v
            except gdb.error:
                pass
        if typ is None:
            continue
        for cand in [name] + ["%s.lto_priv.%d" % (name, i) for i in range(4)]:
            try:
                addr = int(gdb.parse_and_eval("(long)&'%s'" % cand))
            except gdb.error:
                continue
            return gdb.Value(addr).cast(typ.pointer()).dereference()
    raise gdb.GdbError("roost: no roost runtime here (no '%s' global with debug info)" % names[0])


def _arch():
    name = gdb.selected_inferior().architecture().name()
    if "x86-64" in name:
        return "x86_64"
    if "aarch64" in name:
        return "aarch64"
    raise gdb.GdbError("roost: unsupported architecture %s" % name)


def _cstr(v):
    try:
        return v.string() if int(v) else None
    except gdb.error:
        return "?"


# ------------------------------------------------------------------ memory
# gdb's gcore copies each mapping whole or not at all, and a mapping with a
# page it cannot read is dropped: roost's stack chunks carry guard pages
# (MADV_GUARD_INSTALL on Linux 6.13+ leaves them inside one mapping), so a
# plain gcore keeps no task. 'roost gcore FILE' writes gdb's core and, next
# to it, FILE.roost: the task records and the live part of each task's stack,
# which this file reads in place of the core's memory where it has them.

SIDECAR_MAGIC = b"roost-stacks 1\n"


class Memory(object):
    def __init__(self):
        self.starts, self.blobs = [], []
        core = _core_file()
        if core:
            self.load(core + ".roost")

    def load(self, path):
        import bisect
        import struct
        try:
            with open(path, "rb") as f:
                data = f.read()
        except IOError:
            return
        if not data.startswith(SIDECAR_MAGIC):
            return
        regions = []
        off = len(SIDECAR_MAGIC)
        while off + 16 <= len(data):
            addr, n = struct.unpack_from("<QQ", data, off)
            regions.append((addr, data[off + 16:off + 16 + n]))
            off += 16 + n
        regions.sort(key=lambda r: r[0])
        self.starts = [r[0] for r in regions]
        self.blobs = [r[1] for r in regions]
        self._bisect = bisect.bisect_right

    def read(self, addr, n):
        if self.starts:
            i = self._bisect(self.starts, addr) - 1
            if i >= 0 and addr + n <= self.starts[i] + len(self.blobs[i]):
                o = addr - self.starts[i]
                return self.blobs[i][o:o + n]
        return bytes(gdb.selected_inferior().read_memory(addr, n))

    def value(self, addr, type_):
        return gdb.Value(self.read(addr, type_.sizeof), type_)

    def u64(self, addr):
        return int.from_bytes(self.read(addr, 8), "little")


def _core_file():
    """The core file being examined, or None for a live process."""
    if not _is_core():
        return None
    import re
    m = re.search(r"core dump file:\s*`([^']+)'", gdb.execute("info target", to_string=True))
    return m.group(1) if m else None


class Task(object):
    """A task record, read once."""

    def __init__(self, addr, rec):
        self.addr = addr
        self.id = int(rec["id"])
        self.seq = int(rec["seq"])
        self.state = int(rec["state"])
        self.sp = int(rec["sp"])
        self.reason = int(rec["wait_reason"])
        self.park_tick = int(rec["park_tick"])
        self.site = rec["site"]
        self.name = _cstr(rec["name"])
        self.worker = rec["worker"]
        self.labels = []
        for i in range(min(int(rec["nlabels"]), rec["labels"].type.range()[1] + 1)):
            self.labels.append("%s=%s" % (_cstr(rec["labels"][i][0]), _cstr(rec["labels"][i][1])))

    @property
    def running(self):
        # seq is odd while the task runs (its saved registers are stale).
        return (self.seq & 1) == 1 or self.state == 1

    def state_name(self):
        return "running" if self.running else STATES.get(self.state, "?")

    def reason_name(self):
        if self.running or self.state != 2:
            return ""
        return REASONS[self.reason] if 0 <= self.reason < len(REASONS) else "?"

    def site_name(self):
        if not int(self.site):
            return "?"
        s = self.site.dereference()
        return "%s at %s:%d" % (_cstr(s["func"]), _cstr(s["file"]), int(s["line"]))


def slots(mem):
    """(task record address, stack struct address) of every stack slot."""
    stacks = _global(["stacks", "S"], "chunks")
    task_t = gdb.lookup_type("roost__task")
    stack_t = gdb.lookup_type("struct roost__stack")
    slot = int(stacks["size"]) + GUARD_SIZE
    out = []

    def chunk(base):
        for i in range(CHUNK_SLOTS):
            s = base + (i + 1) * slot - stack_t.sizeof
            out.append(((s - task_t.sizeof) & ~63, s))

    region = int(stacks["region"])
    for k in range(int(stacks["nregion"]) if region else 0):
        chunk(region + k * slot * CHUNK_SLOTS)
    c = int(stacks["chunks"])
    seen = set()
    while c and c not in seen:
        seen.add(c)
        chunk(c + stack_t.sizeof - slot)   # slot 0's struct sits at its top
        try:
            c = int(mem.value(c, stack_t)["chunk_next"])
        except gdb.MemoryError:
            break
    o = int(stacks["odd"])
    while o and o not in seen:
        seen.add(o)
        out.append(((o - task_t.sizeof) & ~63, o))
        try:
            o = int(mem.value(o, stack_t)["chunk_next"])
        except gdb.MemoryError:
            break
    return out


def tasks(mem=None):
    """Every live task, in id order."""
    mem = mem or Memory()
    task_t = gdb.lookup_type("roost__task")
    out = []
    for addr, _ in slots(mem):
        try:
            rec = mem.value(addr, task_t)
            if int(rec["id"]) == 0 or int(rec["state"]) == 3:
                continue
            out.append(Task(addr, rec))
        except gdb.MemoryError:
            continue
    if not out and _core_file() and not mem.starts:
        print("roost: no task in this core: gdb's gcore drops the stack chunks (their guard "
              "pages cannot be read); write cores with 'roost gcore FILE'")
    out.sort(key=lambda t: t.id)
    return out


# ------------------------------------------------------------------ clock
# Park times are TSC ticks (x86_64; the virtual counter on AArch64), read by
# the runtime as roost__coarse_tick. The registry keeps one anchor (tick0 at
# roost_now() ns0); a live process gives the other: gdb reads the same
# counter and CLOCK_MONOTONIC now. A core file has no "now": its wait times
# run up to the last tick the process saw, at the rate measured here.

def _read_counter_fn():
    """A function reading this CPU's counter, or None."""
    try:
        import ctypes
        import mmap
        code = {
            "x86_64": b"\x0f\x31\x48\xc1\xe2\x20\x48\x09\xd0\xc3",   # rdtsc; shl rdx,32; or rax,rdx; ret
            "aarch64": b"\x40\xe0\x3b\xd5\xc0\x03\x5f\xd6",          # mrs x0, cntvct_el0; ret
        }[_host_arch()]
        buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        buf.write(code)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        fn = ctypes.CFUNCTYPE(ctypes.c_uint64)(addr)
        fn._keep = buf
        return fn
    except Exception:
        return None


def _host_arch():
    import platform
    m = platform.machine()
    return "x86_64" if m in ("x86_64", "amd64") else "aarch64" if m in ("aarch64", "arm64") else m


_counter = None


def _is_core():
    inf = gdb.selected_inferior()
    conn = getattr(inf, "connection", None)
    if conn is not None:
        return conn.type == "core"
    return "core file" in gdb.execute("info target", to_string=True)


class Clock(object):
    """Converts a task's park tick into seconds waited; None if it cannot."""

    def __init__(self, ticks):
        global _counter
        self.now_tick = self.ns_per_tick = None
        try:
            reg = _global(["registry", "R"], "tick0")
            tick0, ns0 = int(reg["tick0"]), int(reg["ns0"])
        except gdb.GdbError:
            return
        if _counter is None:
            _counter = _read_counter_fn() or False
        if not _counter or _host_arch() != _arch():
            return
        if not _is_core():
            self.now_tick = _counter()
            now_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            if self.now_tick > tick0 and now_ns > ns0:
                self.ns_per_tick = (now_ns - ns0) / float(self.now_tick - tick0)
            return
        # A core: "now" is the latest tick it holds; the rate, this machine's.
        try:
            coarse = int(gdb.parse_and_eval("roost__coarse_tick"))
        except gdb.error:
            coarse = 0
        self.now_tick = max([coarse] + ticks)
        t1, n1 = _counter(), time.monotonic_ns()
        time.sleep(0.02)
        t2, n2 = _counter(), time.monotonic_ns()
        if t2 > t1:
            self.ns_per_tick = (n2 - n1) / float(t2 - t1)

    def waited(self, tick):
        if not tick or self.now_tick is None or self.ns_per_tick is None:
            return None
        return max(0, self.now_tick - tick) * self.ns_per_tick / 1e9


def _fmt_wait(s):
    if s is None:
        return "?"
    if s < 60:
        return "%.1fs" % s
    if s < 3600:
        return "%dm%02ds" % (s // 60, s % 60)
    return "%dh%02dm" % (s // 3600, s % 3600 // 60)


# ------------------------------------------------------------------ backtraces

def saved_frames(t, mem, limit=64):
    """The return addresses of a switched-out task, innermost first: the
    one roost__switch will return to, then up the frame-pointer chain to the
    task record at the top of its stack."""
    sp, top = t.sp, t.addr
    if not sp or not (sp < top):
        return []
    if _arch() == "x86_64":
        fp, pc = mem.u64(sp + 48), mem.u64(sp + 56)   # rbp, return address
    else:
        fp, pc = mem.u64(sp + 80), mem.u64(sp + 88)   # x29, x30
    pcs = [pc]
    while len(pcs) < limit and sp <= fp and fp + 16 <= top and fp % 8 == 0:
        nxt, pc = mem.u64(fp), mem.u64(fp + 8)
        if not pc:
            break
        pcs.append(pc)
        if nxt <= fp:
            break
        fp = nxt
    return pcs


def describe_pc(pc):
    """'func (inlined into ...) at file:line' for a return address."""
    look = pc - 1   # the call, not the instruction after it
    names = []
    try:
        b = gdb.block_for_pc(look)
        while b is not None:
            if b.function is not None:
                names.append(b.function.print_name)
            if b.is_global or b.is_static:
                break
            b = b.superblock
    except RuntimeError:
        pass
    if not names:
        sym = gdb.execute("info symbol 0x%x" % look, to_string=True).strip()
        names = [sym.split(" in section")[0] if not sym.startswith("No symbol") else "??"]
    where = ""
    sal = gdb.find_pc_line(look)
    if sal.symtab is not None:
        where = " at %s:%d" % (sal.symtab.filename, sal.line)
    name = names[0]
    if len(names) > 1:
        name += " (inlined into %s)" % ", ".join(names[1:])
    return name + where


def _thread_of(t):
    """The gdb thread of the worker running t, or None."""
    try:
        handle = int(t.worker["thread"])
    except (gdb.error, gdb.MemoryError):
        return None
    for th in gdb.selected_inferior().threads():
        try:
            if int.from_bytes(th.handle(), "little") == handle:
                return th
        except Exception:
            pass
    return None


# ------------------------------------------------------------------ commands

class RoostPrefix(gdb.Command):
    """roost tasks: list the program's tasks.
roost bt ID: print the backtrace of task ID."""

    def __init__(self):
        super(RoostPrefix, self).__init__("roost", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class RoostTasks(gdb.Command):
    """List every live roost task: id, state, wait reason, time parked, spawn site.
Time parked is good to about 2 ms (ROOST_OBSERVE=2: exact); '?' when the
runtime does not keep it (ROOST_OBSERVE=0) or this machine cannot tell."""

    def __init__(self):
        super(RoostTasks, self).__init__("roost tasks", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        ts = tasks()
        clock = Clock([t.park_tick for t in ts])
        print("%7s  %-9s %-15s %8s  %s" % ("ID", "STATE", "WAIT", "FOR", "SPAWN SITE"))
        for t in ts:
            reason = t.reason_name()
            extra = ""
            if t.name:
                extra += " \"%s\"" % t.name
            if t.labels:
                extra += " {%s}" % ", ".join(t.labels)
            print("%7d  %-9s %-15s %8s  %s%s" % (
                t.id, t.state_name(), reason,
                _fmt_wait(clock.waited(t.park_tick)) if reason else "",
                t.site_name(), extra))
        print("%d tasks" % len(ts))


class RoostBt(gdb.Command):
    """Print the backtrace of roost task ID (from 'roost tasks').
A parked or runnable task's frames are walked from its saved registers; a
running task is on a worker thread: its frames are that thread's, which
this command names."""

    def __init__(self):
        super(RoostBt, self).__init__("roost bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        try:
            want = int(arg.strip(), 0)
        except ValueError:
            raise gdb.GdbError("usage: roost bt ID")
        mem = Memory()
        match = [t for t in tasks(mem) if t.id == want]
        if not match:
            raise gdb.GdbError("roost: no live task %d" % want)
        t = match[0]
        reason = t.reason_name()
        print("task %d [%s%s]: created by %s" % (
            t.id, t.state_name(), ", " + reason if reason else "", t.site_name()))
        if t.running:
            th = _thread_of(t)
            print("    running on a worker: %s" % (
                "gdb thread %d ('thread %d' then 'bt')" % (th.num, th.num) if th
                else "see 'info threads'"))
            return
        for i, pc in enumerate(saved_frames(t, mem)):
            print("#%-2d 0x%016x in %s" % (i, pc, describe_pc(pc)))


class RoostGcore(gdb.Command):
    """Write a core file of the live process, as gcore FILE, and FILE.roost
beside it: every task record and the live part of every task's stack, which
gcore leaves out (see 'roost tasks' on the core: gdb PROGRAM FILE)."""

    def __init__(self):
        super(RoostGcore, self).__init__("roost gcore", gdb.COMMAND_FILES, gdb.COMPLETE_FILENAME)

    def invoke(self, arg, from_tty):
        import struct
        path = arg.strip()
        if not path:
            raise gdb.GdbError("usage: roost gcore FILE")
        if _is_core():
            raise gdb.GdbError("roost gcore: needs a live process")
        gdb.execute("gcore " + path, from_tty)
        mem = Memory()
        task_t = gdb.lookup_type("roost__task")
        stack_t = gdb.lookup_type("struct roost__stack")
        n = 0
        with open(path + ".roost", "wb") as f:
            f.write(SIDECAR_MAGIC)
            for rec, s in slots(mem):
                try:
                    st = mem.value(s, stack_t)
                    t = mem.value(rec, task_t)
                    lo, hi = int(st["lo"]), s + stack_t.sizeof
                    if int(t["id"]) and int(t["state"]) != 3:
                        sp = int(t["sp"])
                        # A switched-out task's frames start at sp; a
                        # running one's anywhere above lo.
                        if int(t["seq"]) & 1 or int(t["state"]) == 1 or not lo < sp < rec:
                            sp = lo
                        start = sp & ~15
                        n += 1
                    else:
                        start = rec
                    data = mem.read(start, hi - start)
                except gdb.MemoryError:
                    continue
                f.write(struct.pack("<QQ", start, len(data)))
                f.write(data)
        print("roost: %d tasks saved in %s.roost" % (n, path))


RoostPrefix()
RoostTasks()
RoostBt()
RoostGcore()
