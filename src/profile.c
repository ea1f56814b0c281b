/* profile.c - task profiles in four formats, symbolization, and the SIGQUIT
 * dump.
 *
 * The one idea: a profile is a snapshot (registry.c) folded twice. Tasks
 * with the same key (stack, wait reason, state, spawn site, labels) fold
 * into one group through a hash table, and every distinct pc is symbolized
 * once, through a process-wide cache, so the cost of a profile is the
 * snapshot plus one hash per task, whatever the number of tasks that share
 * a stack: 100,000 tasks parked at three sites make three groups and a
 * dozen symbol look-ups. Only the full and JSON forms write one entry per
 * task.
 *
 * Symbols come from the ELF symbol table (.symtab, else .dynsym) of each
 * loaded module, read from its file once and kept sorted; so static
 * functions have names without -rdynamic, as long as the file is not
 * stripped. File and line come from DWARF through libdwfl (elfutils) when
 * its header was there at build time (link with -ldw then); without it a
 * frame is "function+0xoff". Modules are found with dl_iterate_phdr; a
 * dlclose (its subs counter moved) drops the pc cache, and modules unloaded
 * keep their tables (a profile in flight may still point at their names),
 * so the caches only grow, by what distinct pcs and modules need.
 *
 * SIGQUIT: the handler only bumps a counter and wakes a futex (both
 * async-signal-safe); a dumper thread, started with the handler and blocked
 * in the futex otherwise, takes the full profile and writes it to stderr.
 */
#include "internal.h"
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* libdwfl for file:line, if its header is here (Debian: libdw-dev; link
 * with -ldw). -DROOST_NO_LIBDW builds without it all the same. */
#if !defined(ROOST_NO_LIBDW) && defined(__has_include)
#if __has_include(<elfutils/libdwfl.h>)
#include <elfutils/libdwfl.h>
#define PROF_LIBDW 1
#endif
#endif

/* ------------------------------------------------------------ arena
 * Memory the symbol caches hand out and never take back: entries of the pc
 * cache, module records, interned file names. Reachable from PS for the
 * life of the process (so no leak checker reports it), and bounded by the
 * distinct pcs and modules ever symbolized. Under PS.lock. */
typedef struct prof_block {
    struct prof_block *next;
    size_t used, cap;
    _Alignas(16) char data[];
} prof_block;

static void *prof_arena_alloc(prof_block **head, size_t n) {
    n = (n + 15) & ~(size_t)15;
    prof_block *b = *head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 16000 ? n : 16000;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = *head, b->used = 0, b->cap = cap;
        *head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static const char *prof_arena_strdup(prof_block **head, const char *s) {
    size_t n = strlen(s) + 1;
    char *p = prof_arena_alloc(head, n);
    if (p) memcpy(p, s, n);
    return p;
}

static void prof_arena_free(prof_block *b) {
    while (b) {
        prof_block *n = b->next;
        free(b);
        b = n;
    }
}

/* ------------------------------------------------------------ modules */

typedef struct {
    uintptr_t addr;  /* link-time address (add the module's bias) */
    uintptr_t size;  /* 0 if the symbol table does not say */
    uint32_t name;   /* offset into the module's names */
} prof_fsym;

typedef struct prof_mod {
    struct prof_mod *next;
    uintptr_t bias;            /* dlpi_addr: run-time address = link-time + bias */
    uintptr_t lo, hi;          /* run-time range of its PT_LOAD segments */
    uintptr_t text_lo, text_hi, text_off; /* the executable segment (pprof's mapping) */
    const char *path;          /* the file (the main program's resolved via /proc/self/exe) */
    const char *base;          /* its last component, for "module+0xoff" */
    bool loaded;               /* symbols read, or tried */
    bool seen;                 /* met in the current dl_iterate_phdr walk */
    size_t nsyms;
    prof_fsym *syms;           /* functions, sorted by addr; malloc'ed */
    char *names;               /* their names; malloc'ed */
} prof_mod;

/* One symbolized pc. Immutable once in the cache, and never freed. */
typedef struct prof_sym {
    uintptr_t pc;
    const char *func;          /* NULL if no symbol covers it */
    uintptr_t off;             /* pc - function start; pc - module bias without func */
    const char *file;          /* NULL without line information */
    int line;
    const prof_mod *mod;       /* NULL if in no module we know */
} prof_sym;

static struct {
    pthread_mutex_t lock;      /* everything below */
    prof_mod *mods;            /* modules loaded now */
    prof_mod *gone;            /* modules seen unloaded: kept, see the top */
    unsigned long long adds, subs; /* dl_iterate_phdr's counters at the last walk */
    bool walked;
    prof_sym **tab;            /* pc cache: open addressing, power-of-two size */
    size_t cap, n;
    prof_block *arena;
#ifdef PROF_LIBDW
    Dwfl *dwfl;                /* reports every module of the process */
    bool dwfl_failed;
#endif
} PS = {.lock = PTHREAD_MUTEX_INITIALIZER};

#if __ELF_NATIVE_CLASS == 64
#define PROF_ELFCLASS ELFCLASS64
#else
#define PROF_ELFCLASS ELFCLASS32
#endif

static int prof_sym_cmp(const void *a, const void *b) {
    const prof_fsym *x = a, *y = b;
    if (x->addr != y->addr) return x->addr < y->addr ? -1 : 1;
    return x->size > y->size ? -1 : x->size < y->size; /* the sized one first among aliases */
}

/* Read m's function symbols from its file: .symtab if it is there (static
 * functions too), else .dynsym. Costs one mmap of the file and a sort, once
 * per module; a file we cannot read leaves nsyms 0 (dladdr then helps). */
static void prof_mod_load(prof_mod *m) {
    m->loaded = true;
    if (!m->path || !*m->path) return;
    int fd = open(m->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(ElfW(Ehdr)))
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return;
    size_t size = (size_t)st.st_size;
    const char *img = map;
    const ElfW(Ehdr) *eh = map;
    const ElfW(Shdr) *sh = NULL, *symsec = NULL;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != PROF_ELFCLASS ||
        eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shoff > size ||
        (size - eh->e_shoff) / sizeof(ElfW(Shdr)) < eh->e_shnum)
        goto out;
    sh = (const ElfW(Shdr) *)(img + eh->e_shoff);
    for (int pass = 0; pass < 2 && !symsec; pass++)
        for (unsigned i = 0; i < eh->e_shnum; i++)
            if (sh[i].sh_type == (pass ? SHT_DYNSYM : SHT_SYMTAB) && sh[i].sh_link < eh->e_shnum) {
                symsec = &sh[i];
                break;
            }
    if (!symsec || symsec->sh_offset > size || symsec->sh_size > size - symsec->sh_offset ||
        symsec->sh_entsize != sizeof(ElfW(Sym)))
        goto out;
    const ElfW(Shdr) *strsec = &sh[symsec->sh_link];
    if (strsec->sh_offset > size || strsec->sh_size > size - strsec->sh_offset) goto out;
    const ElfW(Sym) *sym = (const ElfW(Sym) *)(img + symsec->sh_offset);
    size_t nsym = symsec->sh_size / sizeof *sym, nfunc = 0, namebytes = 0;
    const char *strs = img + strsec->sh_offset;
    for (size_t i = 0; i < nsym; i++) {
        int type = (sym[i].st_info & 0xf);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym[i].st_shndx == SHN_UNDEF ||
            !sym[i].st_value || sym[i].st_name >= strsec->sh_size)
            continue;
        nfunc++;
        namebytes += strnlen(strs + sym[i].st_name, strsec->sh_size - sym[i].st_name) + 1;
    }
    if (!nfunc || namebytes > UINT32_MAX) goto out;
    m->syms = malloc(nfunc * sizeof *m->syms);
    m->names = malloc(namebytes);
    if (!m->syms || !m->names) {
        free(m->syms), free(m->names);
        m->syms = NULL, m->names = NULL;
        goto out;
    }
    size_t k = 0, at = 0;
    for (size_t i = 0; i < nsym; i++) {
        int type = (sym[i].st_info & 0xf);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym[i].st_shndx == SHN_UNDEF ||
            !sym[i].st_value || sym[i].st_name >= strsec->sh_size)
            continue;
        size_t len = strnlen(strs + sym[i].st_name, strsec->sh_size - sym[i].st_name);
        memcpy(m->names + at, strs + sym[i].st_name, len);
        m->names[at + len] = 0;
        m->syms[k++] = (prof_fsym){sym[i].st_value, sym[i].st_size, (uint32_t)at};
        at += len + 1;
    }
    qsort(m->syms, k, sizeof *m->syms, prof_sym_cmp);
    m->nsyms = k;
out:
    munmap(map, size);
}

typedef struct {
    unsigned long long adds, subs;
    bool first_only;           /* just read the counters */
    bool oom;
} prof_walk;

static int prof_phdr_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    prof_walk *w = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        w->adds = info->dlpi_adds, w->subs = info->dlpi_subs;
    if (w->first_only) return 1;
    uintptr_t lo = UINTPTR_MAX, hi = 0, tlo = 0, thi = 0, toff = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_LOAD) continue;
        uintptr_t a = info->dlpi_addr + p->p_vaddr;
        if (a < lo) lo = a;
        if (a + p->p_memsz > hi) hi = a + p->p_memsz;
        if ((p->p_flags & PF_X) && !thi) tlo = a, thi = a + p->p_memsz, toff = p->p_offset;
    }
    if (hi <= lo) return 0;
    for (prof_mod *m = PS.mods; m; m = m->next)
        if (m->bias == info->dlpi_addr && m->lo == lo && m->hi == hi) {
            m->seen = true;
            return 0;
        }
    prof_mod *m = prof_arena_alloc(&PS.arena, sizeof *m);
    if (!m) {
        w->oom = true;
        return 0;
    }
    memset(m, 0, sizeof *m);
    m->bias = info->dlpi_addr, m->lo = lo, m->hi = hi;
    m->text_lo = thi ? tlo : lo, m->text_hi = thi ? thi : hi, m->text_off = toff;
    const char *name = info->dlpi_name;
    char *exe = NULL;
    if (!name || !*name) { /* the main program */
        exe = malloc(PATH_MAX);
        ssize_t n = exe ? readlink("/proc/self/exe", exe, PATH_MAX - 1) : -1;
        if (exe) exe[n > 0 ? n : 0] = 0;
        name = exe ? exe : "";
    }
    m->path = prof_arena_strdup(&PS.arena, name);
    free(exe);
    if (!m->path) m->path = "";
    const char *slash = strrchr(m->path, '/');
    m->base = slash ? slash + 1 : m->path;
    m->seen = true;
    m->next = PS.mods;
    PS.mods = m;
    return 0;
}

static void prof_cache_clear(void) {
    if (PS.tab) memset(PS.tab, 0, PS.cap * sizeof *PS.tab);
    PS.n = 0;
#ifdef PROF_LIBDW
    if (PS.dwfl) dwfl_end(PS.dwfl);
    PS.dwfl = NULL;
    PS.dwfl_failed = false;
#endif
}

/* Bring the module list up to date, if the loader's counters moved since
 * the last walk. With PS.lock held. One short dl_iterate_phdr call when
 * nothing changed (it stops at the first module). */
static bool prof_mods_stale(prof_walk *w) {
    w->first_only = true;
    dl_iterate_phdr(prof_phdr_cb, w);
    return !PS.walked || w->adds != PS.adds || w->subs != PS.subs;
}

static void prof_mods_refresh(void) {
    prof_walk w = {0};
    if (!prof_mods_stale(&w)) return;
    bool unloaded = PS.walked && w.subs != PS.subs;
    for (prof_mod *m = PS.mods; m; m = m->next) m->seen = false;
    w.first_only = false;
    dl_iterate_phdr(prof_phdr_cb, &w);
    /* Modules not met again were unloaded: their range may be reused, so
     * move them aside (not freed: cached names may still be in use) and
     * forget every pc symbolized so far. */
    for (prof_mod **pm = &PS.mods; *pm;) {
        prof_mod *m = *pm;
        if (m->seen) {
            pm = &m->next;
            continue;
        }
        *pm = m->next;
        m->next = PS.gone;
        PS.gone = m;
        unloaded = true;
    }
    if (unloaded || (PS.walked && w.adds != PS.adds)) prof_cache_clear();
    if (!w.oom) PS.adds = w.adds, PS.subs = w.subs, PS.walked = true;
}

static prof_mod *prof_mod_at(uintptr_t pc) {
    for (prof_mod *m = PS.mods; m; m = m->next)
        if (pc >= m->lo && pc < m->hi) return m;
    return NULL;
}

/* The function containing link-time address a in m, or NULL. */
static const prof_fsym *prof_mod_func(prof_mod *m, uintptr_t a) {
    if (!m->loaded) prof_mod_load(m);
    size_t lo = 0, hi = m->nsyms;
    while (lo < hi) { /* first symbol above a */
        size_t mid = (lo + hi) / 2;
        if (m->syms[mid].addr <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo) return NULL;
    const prof_fsym *s = &m->syms[lo - 1];
    /* Among aliases at one address the sized one sorts first. */
    while (s > m->syms && s[-1].addr == s->addr) s--;
    if (s->size && a >= s->addr + s->size) return NULL; /* in a gap (PLT, padding) */
    return s;
}

#ifdef PROF_LIBDW
static char *prof_debuginfo_path;
static const Dwfl_Callbacks prof_dwfl_cb = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &prof_debuginfo_path,
};

/* File and line of the instruction at a (a return address less one), from
 * DWARF. The first call reads /proc/self/maps and each module's line table
 * on first use (milliseconds, once); later calls are a search. */
static void prof_lines(uintptr_t a, prof_sym *s) {
    if (!PS.dwfl && !PS.dwfl_failed) {
        PS.dwfl = dwfl_begin(&prof_dwfl_cb);
        if (PS.dwfl && (dwfl_linux_proc_report(PS.dwfl, getpid()) != 0 ||
                        dwfl_report_end(PS.dwfl, NULL, NULL) != 0)) {
            dwfl_end(PS.dwfl);
            PS.dwfl = NULL;
        }
        PS.dwfl_failed = !PS.dwfl;
    }
    if (!PS.dwfl) return;
    Dwfl_Module *mod = dwfl_addrmodule(PS.dwfl, a);
    Dwfl_Line *l = mod ? dwfl_module_getsrc(mod, a) : NULL;
    int line = 0;
    const char *file = l ? dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL) : NULL;
    if (!file) return;
    /* Copied: the Dwfl is rebuilt when modules change, and its strings go. */
    s->file = prof_arena_strdup(&PS.arena, file);
    s->line = line;
}
#endif

static size_t prof_pc_hash(uintptr_t pc) {
    uint64_t h = (uint64_t)pc * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29));
}

/* pc, symbolized, from the cache or now. pc is taken as a return address:
 * the call is the instruction before it, so pc - 1 is what is looked up
 * (a call that ends a function returns to the next one's first byte). With
 * PS.lock held. NULL only when out of memory. */
static prof_sym *prof_sym_probe(uintptr_t pc) {
    if (!PS.cap) return NULL;
    for (size_t j = prof_pc_hash(pc) & (PS.cap - 1); PS.tab[j]; j = (j + 1) & (PS.cap - 1))
        if (PS.tab[j]->pc == pc) return PS.tab[j];
    return NULL;
}

static const prof_sym *prof_sym_locked(uintptr_t pc) {
    prof_sym *s = prof_sym_probe(pc);
    if (s) return s;
    if (PS.n * 2 >= PS.cap) {
        size_t cap = PS.cap ? PS.cap * 2 : 256;
        prof_sym **t = calloc(cap, sizeof *t);
        if (!t) return NULL;
        for (size_t i = 0; i < PS.cap; i++) {
            prof_sym *s = PS.tab[i];
            if (!s) continue;
            size_t j = prof_pc_hash(s->pc) & (cap - 1);
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = s;
        }
        free(PS.tab);
        PS.tab = t, PS.cap = cap;
    }
    s = prof_arena_alloc(&PS.arena, sizeof *s);
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    s->pc = pc;
    uintptr_t a = pc ? pc - 1 : 0;
    prof_mod *m = prof_mod_at(a);
    s->mod = m;
    const prof_fsym *f = m ? prof_mod_func(m, a - m->bias) : NULL;
    if (f) {
        s->func = m->names + f->name;
        s->off = pc - (f->addr + m->bias);
    } else {
        /* dladdr knows the dynamic symbols of modules whose file we could
         * not read (the vDSO); its name lives as long as the module. */
        Dl_info di;
        if (dladdr((void *)a, &di) && di.dli_sname && di.dli_saddr) {
            s->func = di.dli_sname;
            s->off = pc - (uintptr_t)di.dli_saddr;
        } else {
            s->off = m ? pc - m->bias : pc;
        }
    }
#ifdef PROF_LIBDW
    prof_lines(a, s);
#endif
    size_t j = prof_pc_hash(pc) & (PS.cap - 1);
    while (PS.tab[j]) j = (j + 1) & (PS.cap - 1);
    PS.tab[j] = s;
    PS.n++;
    return s;
}

/* Run fn(arg) on a stack deep enough for it. A task's stack is small (64
 * KiB by default, 16 KiB at the least) and reading DWARF with libdw alone
 * can take more, so a task hands the work to a plain thread and waits for
 * it: some 50 us for the thread, paid only where symbols are missed (a
 * cache miss) or a whole profile is taken. The task's worker waits too, as
 * it would while doing the work itself. */
static void prof_off_task(void *(*fn)(void *), void *arg) {
    pthread_t th;
    if (roost__self() && pthread_create(&th, NULL, fn, arg) == 0) {
        pthread_join(th, NULL);
        return;
    }
    fn(arg);
}

/* For a batch of look-ups (one profile): bring the modules up to date once. */
static void prof_sym_begin(void) {
    pthread_mutex_lock(&PS.lock);
    prof_mods_refresh();
    pthread_mutex_unlock(&PS.lock);
}

static const prof_sym *prof_sym_get(uintptr_t pc) {
    pthread_mutex_lock(&PS.lock);
    const prof_sym *s = prof_sym_locked(pc);
    pthread_mutex_unlock(&PS.lock);
    return s;
}

/* "function+0xoff (file:line)", "module+0xoff", or "0x..." */
static size_t prof_sym_format(const prof_sym *s, uintptr_t pc, char *buf, size_t size) {
    if (!size) return 0;
    int n;
    if (s && s->func && s->file)
        n = snprintf(buf, size, "%s+%#lx (%s:%d)", s->func, (unsigned long)s->off, s->file, s->line);
    else if (s && s->func)
        n = snprintf(buf, size, "%s+%#lx", s->func, (unsigned long)s->off);
    else if (s && s->mod)
        n = snprintf(buf, size, "%s+%#lx%s%s%s", s->mod->base, (unsigned long)s->off,
                     s->file ? " (" : "", s->file ? s->file : "", s->file ? ")" : "");
    else
        n = snprintf(buf, size, "%#lx", (unsigned long)pc);
    if (n < 0) n = 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

typedef struct {
    uintptr_t pc;
    const prof_sym *s;
} prof_sym_req;

static void *prof_sym_fill(void *arg) {
    prof_sym_req *r = arg;
    pthread_mutex_lock(&PS.lock);
    prof_mods_refresh();
    r->s = prof_sym_locked(r->pc);
    pthread_mutex_unlock(&PS.lock);
    return NULL;
}

size_t roost_symbolize(uintptr_t pc, char *buf, size_t size) {
    if (!buf) return 0;
    /* A hit costs the lock, a probe and a short dl_iterate_phdr (is the
     * module list as it was?); a miss does the work off the task stack. */
    prof_walk w = {0};
    pthread_mutex_lock(&PS.lock);
    const prof_sym *s = prof_mods_stale(&w) ? NULL : prof_sym_probe(pc);
    pthread_mutex_unlock(&PS.lock);
    if (!s) {
        prof_sym_req r = {pc, NULL};
        prof_off_task(prof_sym_fill, &r);
        s = r.s;
    }
    return prof_sym_format(s, pc, buf, size);
}

/* ------------------------------------------------------------ output buffer */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;                  /* an append failed: the result is incomplete */
} prof_buf;

static bool prof_reserve(prof_buf *b, size_t n) {
    if (b->oom) return false;
    if (b->cap - b->len >= n) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p, b->cap = cap;
    return true;
}

static void prof_put(prof_buf *b, const void *s, size_t n) {
    if (!prof_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void prof_puts(prof_buf *b, const char *s) { prof_put(b, s, strlen(s)); }

static void prof_putc(prof_buf *b, char c) {
    if (!prof_reserve(b, 1)) return;
    b->p[b->len++] = c;
}

__attribute__((format(printf, 2, 3))) static void prof_printf(prof_buf *b, const char *fmt, ...) {
    for (int tries = 0; tries < 2; tries++) {
        if (!prof_reserve(b, 64)) return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        if (!prof_reserve(b, (size_t)n + 1)) return;
    }
}

/* A JSON string, quoted and escaped (NULL: null). Bytes >= 0x80 pass as
 * they are: names and files are taken to be UTF-8. */
static void prof_json_str(prof_buf *b, const char *s) {
    if (!s) {
        prof_puts(b, "null");
        return;
    }
    prof_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const unsigned char *q = p;
        while (*q >= 0x20 && *q != '"' && *q != '\\') q++;
        if (q > p) prof_put(b, p, (size_t)(q - p));
        if (!*q) break;
        switch (*q) {
        case '"': prof_puts(b, "\\\""); break;
        case '\\': prof_puts(b, "\\\\"); break;
        case '\n': prof_puts(b, "\\n"); break;
        case '\t': prof_puts(b, "\\t"); break;
        case '\r': prof_puts(b, "\\r"); break;
        default: prof_printf(b, "\\u%04x", *q); break;
        }
        p = q;
    }
    prof_putc(b, '"');
}

/* ------------------------------------------------------------ per-profile pc table
 * The distinct pcs of one profile, each with its cached symbol: the global
 * cache costs a lock per look-up, this costs a probe. */
typedef struct {
    uintptr_t *pcs;            /* 0: empty slot */
    const prof_sym **syms;
    uint32_t *ids;             /* pprof location ids, 1-based in order of first use */
    size_t cap, n;
    bool oom;
} prof_pcs;

static const prof_sym prof_nosym; /* what a failed look-up shows: the bare pc */

static size_t prof_pcs_find(prof_pcs *P, uintptr_t pc) {
    if (P->n * 2 >= P->cap) {
        size_t cap = P->cap ? P->cap * 2 : 256;
        uintptr_t *pcs = calloc(cap, sizeof *pcs);
        const prof_sym **syms = calloc(cap, sizeof *syms);
        uint32_t *ids = calloc(cap, sizeof *ids);
        if (!pcs || !syms || !ids) {
            free(pcs), free(syms), free(ids);
            P->oom = true;
            return SIZE_MAX;
        }
        for (size_t i = 0; i < P->cap; i++) {
            if (!P->pcs[i]) continue;
            size_t j = prof_pc_hash(P->pcs[i]) & (cap - 1);
            while (pcs[j]) j = (j + 1) & (cap - 1);
            pcs[j] = P->pcs[i], syms[j] = P->syms[i], ids[j] = P->ids[i];
        }
        free(P->pcs), free(P->syms), free(P->ids);
        P->pcs = pcs, P->syms = syms, P->ids = ids, P->cap = cap;
    }
    size_t j = prof_pc_hash(pc) & (P->cap - 1);
    while (P->pcs[j] && P->pcs[j] != pc) j = (j + 1) & (P->cap - 1);
    if (!P->pcs[j]) {
        const prof_sym *s = prof_sym_get(pc);
        P->pcs[j] = pc;
        P->syms[j] = s ? s : &prof_nosym;
        P->ids[j] = (uint32_t)++P->n;
    }
    return j;
}

static const prof_sym *prof_pcs_sym(prof_pcs *P, uintptr_t pc) {
    if (!pc) return &prof_nosym;
    size_t j = prof_pcs_find(P, pc);
    return j == SIZE_MAX ? &prof_nosym : P->syms[j];
}

static void prof_pcs_free(prof_pcs *P) { free(P->pcs), free(P->syms), free(P->ids); }

/* ------------------------------------------------------------ grouping */

typedef struct {
    roost_task_info_t *t;      /* the first task of the group, in the snapshot */
    size_t count;
    uint64_t hash;
} prof_group;

typedef struct {
    prof_group *g;
    size_t n, cap;
    uint32_t *slots;           /* index + 1 into g; 0 empty */
    size_t nslots;
    bool by_content;           /* compare strings by content (else by pointer) */
} prof_groups;

static uint64_t prof_mix(uint64_t h, uint64_t v) {
    h = (h ^ v) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
}

static uint64_t prof_str_hash(uint64_t h, const char *s) {
    uint64_t x = 0xcbf29ce484222325ull;
    for (; s && *s; s++) x = (x ^ (unsigned char)*s) * 0x100000001b3ull;
    return prof_mix(h, x);
}

static bool prof_str_eq(const char *a, const char *b, bool content) {
    if (a == b) return true;
    return content && a && b && strcmp(a, b) == 0;
}

/* What makes two tasks one entry: stack, state, wait reason, spawn site and
 * labels (pprof groups by label set, and so does Go's debug=1). The first
 * pass compares strings by pointer (they are static strings, shared by
 * every task of a site); a second pass over the groups merges those whose
 * strings are equal but not the same, so 100,000 tasks are never strcmp'ed. */
static uint64_t prof_key_hash(const roost_task_info_t *t, bool content) {
    uint64_t h = prof_mix((uint64_t)t->state << 32 | (uint32_t)t->wait_reason, (uint64_t)t->nframes);
    for (int i = 0; i < t->nframes; i++) h = prof_mix(h, t->pcs[i]);
    h = prof_mix(h, (uint64_t)t->line);
    if (content) {
        h = prof_str_hash(h, t->file), h = prof_str_hash(h, t->func);
        for (int i = 0; i < t->nlabels; i++)
            h = prof_str_hash(prof_str_hash(h, t->labels[i][0]), t->labels[i][1]);
    } else {
        h = prof_mix(prof_mix(h, (uintptr_t)t->file), (uintptr_t)t->func);
        for (int i = 0; i < t->nlabels; i++)
            h = prof_mix(prof_mix(h, (uintptr_t)t->labels[i][0]), (uintptr_t)t->labels[i][1]);
    }
    return h;
}

static bool prof_key_eq(const roost_task_info_t *a, const roost_task_info_t *b, bool content) {
    if (a->state != b->state || a->wait_reason != b->wait_reason || a->nframes != b->nframes ||
        a->line != b->line || a->nlabels != b->nlabels)
        return false;
    if (memcmp(a->pcs, b->pcs, sizeof a->pcs[0] * (size_t)a->nframes) != 0) return false;
    if (!prof_str_eq(a->file, b->file, content) || !prof_str_eq(a->func, b->func, content)) return false;
    for (int i = 0; i < a->nlabels; i++)
        if (!prof_str_eq(a->labels[i][0], b->labels[i][0], content) ||
            !prof_str_eq(a->labels[i][1], b->labels[i][1], content))
            return false;
    return true;
}

/* Add count tasks like t; false when out of memory. */
static bool prof_group_add(prof_groups *G, roost_task_info_t *t, size_t count) {
    if (G->n * 2 >= G->nslots) {
        size_t ns = G->nslots ? G->nslots * 2 : 64;
        uint32_t *s = calloc(ns, sizeof *s);
        if (!s) return false;
        for (size_t i = 0; i < G->n; i++) {
            size_t j = G->g[i].hash & (ns - 1);
            while (s[j]) j = (j + 1) & (ns - 1);
            s[j] = (uint32_t)i + 1;
        }
        free(G->slots);
        G->slots = s, G->nslots = ns;
    }
    uint64_t h = prof_key_hash(t, G->by_content);
    size_t j = h & (G->nslots - 1);
    for (uint32_t k; (k = G->slots[j]); j = (j + 1) & (G->nslots - 1)) {
        prof_group *g = &G->g[k - 1];
        if (g->hash == h && prof_key_eq(g->t, t, G->by_content)) {
            g->count += count;
            return true;
        }
    }
    if (G->n == G->cap) {
        size_t cap = G->cap ? G->cap * 2 : 64;
        prof_group *g = realloc(G->g, cap * sizeof *g);
        if (!g) return false;
        G->g = g, G->cap = cap;
    }
    G->g[G->n] = (prof_group){t, count, h};
    G->slots[j] = (uint32_t)++G->n;
    return true;
}

static int prof_label_cmp(const void *a, const void *b) {
    const char *const *x = a, *const *y = b;
    return strcmp(x[0], y[0]);
}

static int prof_group_cmp(const void *a, const void *b) {
    const prof_group *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->t->id < y->t->id ? -1 : x->t->id > y->t->id;
}

/* Group v[0..n) into *out (sorted by count, descending). */
static int prof_group_all(roost_task_info_t *v, size_t n, prof_groups *out) {
    prof_groups G1 = {0};
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++)
        if (!prof_group_add(&G1, &v[i], 1)) goto oom;
    out->by_content = true;
    for (size_t i = 0; i < G1.n; i++) {
        roost_task_info_t *t = G1.g[i].t;
        /* A label set is a set: sort it (the snapshot is ours to change). */
        qsort(t->labels, (size_t)t->nlabels, sizeof t->labels[0], prof_label_cmp);
        if (!prof_group_add(out, t, G1.g[i].count)) goto oom;
    }
    free(G1.g), free(G1.slots);
    free(out->slots);
    out->slots = NULL;
    if (out->n) qsort(out->g, out->n, sizeof *out->g, prof_group_cmp);
    return ROOST_OK;
oom:
    free(G1.g), free(G1.slots), free(out->g), free(out->slots);
    memset(out, 0, sizeof *out);
    return ROOST_ENOMEM;
}

/* ------------------------------------------------------------ common pieces */

static const char *prof_state_word(const roost_task_info_t *t) {
    if (t->state == ROOST_TASK_PARKED) return roost_wait_reason_name(t->wait_reason);
    return roost_task_state_name(t->state);
}

static void prof_labels_text(prof_buf *b, const roost_task_info_t *t) {
    for (int i = 0; i < t->nlabels; i++)
        prof_printf(b, "%s%s=%s", i ? ", " : "{", t->labels[i][0], t->labels[i][1] ? t->labels[i][1] : "");
    if (t->nlabels) prof_putc(b, '}');
}

static int prof_id_cmp(const void *a, const void *b) {
    const roost_task_info_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void prof_sort_by_id(roost_task_info_t *v, size_t n) {
    for (size_t i = 1; i < n; i++)
        if (v[i].id < v[i - 1].id) {
            qsort(v, n, sizeof *v, prof_id_cmp);
            return;
        }
}

static double prof_waited_s(const roost_task_info_t *t, int64_t now) {
    if (t->state != ROOST_TASK_PARKED || !t->parked_at) return -1;
    int64_t d = now - t->parked_at;
    return d > 0 ? (double)d / 1e9 : 0;
}

/* ------------------------------------------------------------ grouped (debug=1) */

static int prof_grouped(prof_buf *b, roost_task_info_t *v, size_t n, prof_pcs *P) {
    prof_groups G;
    int rc = prof_group_all(v, n, &G);
    if (rc) return rc;
    prof_printf(b, "task profile: total %zu\n", n);
    for (size_t i = 0; i < G.n; i++) {
        const roost_task_info_t *t = G.g[i].t;
        prof_printf(b, "%zu @", G.g[i].count);
        for (int k = 0; k < t->nframes; k++) prof_printf(b, " %#lx", (unsigned long)t->pcs[k]);
        prof_printf(b, "\n# %s; created by %s at %s:%d\n", prof_state_word(t), t->func, t->file, t->line);
        if (t->nlabels) {
            prof_puts(b, "# labels: ");
            prof_labels_text(b, t);
            prof_putc(b, '\n');
        }
        for (int k = 0; k < t->nframes; k++) {
            const prof_sym *s = prof_pcs_sym(P, t->pcs[k]);
            prof_printf(b, "#\t%#lx\t", (unsigned long)t->pcs[k]);
            if (s->func)
                prof_printf(b, "%s+%#lx", s->func, (unsigned long)s->off);
            else if (s->mod)
                prof_printf(b, "%s+%#lx", s->mod->base, (unsigned long)s->off);
            else
                prof_puts(b, "?");
            if (s->file) prof_printf(b, "\t%s:%d", s->file, s->line);
            prof_putc(b, '\n');
        }
        prof_putc(b, '\n');
    }
    free(G.g);
    return ROOST_OK;
}

/* ------------------------------------------------------------ full (debug=2) */

static void prof_full_task(prof_buf *b, const roost_task_info_t *t, int64_t now, prof_pcs *P) {
    prof_printf(b, "task %llu", (unsigned long long)t->id);
    if (t->name) prof_printf(b, " \"%s\"", t->name);
    double s = prof_waited_s(t, now);
    if (s >= 0)
        prof_printf(b, " [%s, %.*fs]", prof_state_word(t), s < 10 ? 1 : 0, s);
    else
        prof_printf(b, " [%s]", prof_state_word(t));
    if (t->nlabels) {
        prof_putc(b, ' ');
        prof_labels_text(b, t);
    }
    prof_puts(b, ":\n");
    char sym[512];
    for (int i = 0; i < t->nframes; i++) {
        prof_sym_format(prof_pcs_sym(P, t->pcs[i]), t->pcs[i], sym, sizeof sym);
        prof_printf(b, "    #%d %#lx %s\n", i, (unsigned long)t->pcs[i], sym);
    }
    if (t->parent_id)
        prof_printf(b, "    created by %s at %s:%d (task %llu)\n\n", t->func, t->file, t->line,
                    (unsigned long long)t->parent_id);
    else
        prof_printf(b, "    created by %s at %s:%d (from a thread)\n\n", t->func, t->file, t->line);
}

static int prof_full(prof_buf *b, roost_task_info_t *v, size_t n, prof_pcs *P) {
    int64_t now = roost_now();
    prof_sort_by_id(v, n);
    prof_printf(b, "task profile: total %zu\n\n", n);
    for (size_t i = 0; i < n; i++) prof_full_task(b, &v[i], now, P);
    return ROOST_OK;
}

/* ------------------------------------------------------------ JSON */

static int prof_json(prof_buf *b, roost_task_info_t *v, size_t n, prof_pcs *P) {
    int64_t now = roost_now();
    prof_sort_by_id(v, n);
    prof_printf(b, "{\"total\":%zu,\"tasks\":[", n);
    for (size_t i = 0; i < n; i++) {
        const roost_task_info_t *t = &v[i];
        prof_printf(b, "%s\n{\"id\":%llu,\"parent\":%llu,\"name\":", i ? "," : "", (unsigned long long)t->id,
                    (unsigned long long)t->parent_id);
        prof_json_str(b, t->name);
        prof_puts(b, ",\"state\":");
        prof_json_str(b, roost_task_state_name(t->state));
        prof_puts(b, ",\"wait_reason\":");
        prof_json_str(b, t->state == ROOST_TASK_PARKED ? roost_wait_reason_name(t->wait_reason) : NULL);
        double s = prof_waited_s(t, now);
        if (s >= 0)
            prof_printf(b, ",\"waiting_s\":%.3f", s);
        else
            prof_puts(b, ",\"waiting_s\":null");
        prof_printf(b, ",\"age_s\":%.3f", t->created && now > t->created ? (double)(now - t->created) / 1e9 : 0.0);
        prof_puts(b, ",\"created_at\":{\"file\":");
        prof_json_str(b, t->file);
        prof_printf(b, ",\"line\":%d,\"func\":", t->line);
        prof_json_str(b, t->func);
        prof_puts(b, "},\"labels\":{");
        for (int k = 0; k < t->nlabels; k++) {
            if (k) prof_putc(b, ',');
            prof_json_str(b, t->labels[k][0]);
            prof_putc(b, ':');
            prof_json_str(b, t->labels[k][1] ? t->labels[k][1] : "");
        }
        prof_puts(b, "},\"stack\":[");
        for (int k = 0; k < t->nframes; k++) {
            const prof_sym *sy = prof_pcs_sym(P, t->pcs[k]);
            prof_printf(b, "%s{\"pc\":\"%#lx\",\"func\":", k ? "," : "", (unsigned long)t->pcs[k]);
            prof_json_str(b, sy->func);
            prof_printf(b, ",\"off\":%lu,\"module\":", (unsigned long)sy->off);
            prof_json_str(b, sy->mod ? sy->mod->base : NULL);
            prof_puts(b, ",\"file\":");
            prof_json_str(b, sy->file);
            if (sy->file)
                prof_printf(b, ",\"line\":%d}", sy->line);
            else
                prof_puts(b, ",\"line\":null}");
        }
        prof_puts(b, "]}");
    }
    prof_puts(b, "\n]}\n");
    return ROOST_OK;
}

/* ------------------------------------------------------------ pprof
 * profile.proto (github.com/google/pprof/proto/profile.proto), encoded by
 * hand: a message is a run of (field << 3 | wire type) keys, varints and
 * length-prefixed bytes. Nested messages are built in a scratch buffer and
 * copied in with their length; a profile is small (one sample per group,
 * one location per distinct pc), so the copies cost nothing that matters. */

enum { PB_VARINT = 0, PB_LEN = 2 };

static void pb_varint(prof_buf *b, uint64_t v) {
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    prof_put(b, tmp, n);
}

static void pb_key(prof_buf *b, int field, int wire) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

/* A scalar field; 0 is proto3's default and is left out. */
static void pb_int(prof_buf *b, int field, uint64_t v) {
    if (!v) return;
    pb_key(b, field, PB_VARINT);
    pb_varint(b, v);
}

static void pb_bytes(prof_buf *b, int field, const void *p, size_t n) {
    pb_key(b, field, PB_LEN);
    pb_varint(b, n);
    prof_put(b, p, n);
}

/* Append sub as field `field` of b, and empty sub for reuse. */
static void pb_msg(prof_buf *b, int field, prof_buf *sub) {
    if (sub->oom) b->oom = true;
    pb_bytes(b, field, sub->p, sub->len);
    sub->len = 0;
}

/* The string table: each distinct string once, by content; index 0 is "". */
typedef struct {
    const char **s;            /* by index */
    size_t n, cap;
    uint32_t *slots;           /* index + 1; 0 empty */
    size_t nslots;
    prof_block *arena;         /* strings made for this profile */
    bool oom;
} pb_strings;

static uint64_t pb_str_intern(pb_strings *S, const char *s) {
    if (!s) s = "";
    if (S->n * 2 >= S->nslots) {
        size_t ns = S->nslots ? S->nslots * 2 : 256;
        uint32_t *sl = calloc(ns, sizeof *sl);
        if (!sl) {
            S->oom = true;
            return 0;
        }
        for (size_t i = 0; i < S->n; i++) {
            size_t j = prof_str_hash(0, S->s[i]) & (ns - 1);
            while (sl[j]) j = (j + 1) & (ns - 1);
            sl[j] = (uint32_t)i + 1;
        }
        free(S->slots);
        S->slots = sl, S->nslots = ns;
    }
    size_t j = prof_str_hash(0, s) & (S->nslots - 1);
    for (uint32_t k; (k = S->slots[j]); j = (j + 1) & (S->nslots - 1))
        if (strcmp(S->s[k - 1], s) == 0) return k - 1;
    if (S->n == S->cap) {
        size_t cap = S->cap ? S->cap * 2 : 256;
        const char **v = realloc(S->s, cap * sizeof *v);
        if (!v) {
            S->oom = true;
            return 0;
        }
        S->s = v, S->cap = cap;
    }
    S->s[S->n] = s;
    S->slots[j] = (uint32_t)++S->n;
    return S->n - 1;
}

/* A label (key, string value) of a sample. */
static void pb_label(prof_buf *b, prof_buf *tmp, pb_strings *S, const char *key, const char *val) {
    pb_int(tmp, 1, pb_str_intern(S, key));
    pb_int(tmp, 2, pb_str_intern(S, val));
    pb_msg(b, 3, tmp);
}

static void pb_value_type(prof_buf *b, prof_buf *tmp, int field, pb_strings *S, const char *type,
                          const char *unit) {
    pb_int(tmp, 1, pb_str_intern(S, type));
    pb_int(tmp, 2, pb_str_intern(S, unit));
    pb_msg(b, field, tmp);
}

typedef struct {
    const char *name, *file;   /* one Function per distinct pair */
} pb_func;

/* Function ids of the stand-ins for tasks without a stack: far above the
 * real ones (ids need only be unique and non-zero). */
#define PB_NOSTACK_FUNC ((uint64_t)1 << 32)

static int prof_pprof(prof_buf *b, roost_task_info_t *v, size_t n, prof_pcs *P) {
    prof_groups G;
    int rc = prof_group_all(v, n, &G);
    if (rc) return rc;
    pb_strings S = {0};
    prof_buf m1 = {0}, m2 = {0};   /* scratch for nested messages */
    prof_mod **mods = NULL;    /* mapping id - 1 -> module */
    size_t nmods = 0, capmods = 0;
    pb_func *funcs = NULL;     /* function id - 1 -> (name, file) */
    size_t nfuncs = 0, capfuncs = 0;
    uint32_t *loc_func = NULL; /* location id - 1 -> function id (0: none) */
    uint32_t *loc_map = NULL;  /* location id - 1 -> mapping id (0: none) */
    uintptr_t *loc_pc = NULL;
    pb_strings FS = {0};       /* "name\1file" keys: function id - 1 by index */
    bool oom = false;
    pb_str_intern(&S, "");

    /* Every pc gets its location id (in P, in order of first use); after
     * them come one location per state for tasks without a stack (running
     * ones), which pprof would otherwise drop from its counts. */
    for (size_t i = 0; i < G.n; i++)
        for (int k = 0; k < G.g[i].t->nframes; k++)
            if (G.g[i].t->pcs[k] && prof_pcs_find(P, G.g[i].t->pcs[k]) == SIZE_MAX) oom = true;
    size_t nloc = P->n;
    unsigned nostack = 0;      /* states used by stackless groups: bit per state */
    pb_value_type(b, &m1, 1, &S, "goroutine", "count");
    for (size_t i = 0; !oom && i < G.n; i++) {
        roost_task_info_t *t = G.g[i].t;
        if (!t->nframes) {
            int st = t->state & 3;
            nostack |= 1u << st;
            pb_varint(&m2, nloc + 1 + (size_t)st);
        }
        for (int k = 0; k < t->nframes; k++) {
            if (!t->pcs[k]) continue;
            size_t j = prof_pcs_find(P, t->pcs[k]);
            if (j == SIZE_MAX) {
                oom = true;
                break;
            }
            pb_varint(&m2, P->ids[j]); /* packed location ids, leaf first */
        }
        if (m2.len) pb_msg(&m1, 1, &m2);
        pb_varint(&m2, G.g[i].count);
        pb_msg(&m1, 2, &m2);
        pb_label(&m1, &m2, &S, "state", roost_task_state_name(t->state));
        if (t->state == ROOST_TASK_PARKED) pb_label(&m1, &m2, &S, "wait_reason", roost_wait_reason_name(t->wait_reason));
        for (int k = 0; k < t->nlabels; k++) pb_label(&m1, &m2, &S, t->labels[k][0], t->labels[k][1]);
        char site[512];
        snprintf(site, sizeof site, "%s (%s:%d)", t->func, t->file, t->line);
        pb_label(&m1, &m2, &S, "created_by", prof_arena_strdup(&S.arena, site));
        pb_msg(b, 2, &m1);
    }

    /* Mappings, functions and locations, per distinct pc. */
    loc_func = calloc(nloc + 1, sizeof *loc_func);
    loc_map = calloc(nloc + 1, sizeof *loc_map);
    loc_pc = calloc(nloc + 1, sizeof *loc_pc);
    if (!loc_func || !loc_map || !loc_pc) oom = true;
    for (size_t j = 0; !oom && j < P->cap; j++) {
        if (!P->pcs[j]) continue;
        const prof_sym *s = P->syms[j];
        uint32_t id = P->ids[j];
        loc_pc[id - 1] = P->pcs[j];
        if (s->mod) {
            size_t k = 0;
            while (k < nmods && mods[k] != s->mod) k++;
            if (k == nmods) {
                if (nmods == capmods) {
                    capmods = capmods ? capmods * 2 : 16;
                    prof_mod **nm = realloc(mods, capmods * sizeof *nm);
                    if (!nm) {
                        oom = true;
                        break;
                    }
                    mods = nm;
                }
                mods[nmods++] = (prof_mod *)s->mod;
            }
            loc_map[id - 1] = (uint32_t)k + 1;
        }
        if (s->func) {
            char key[1024];
            snprintf(key, sizeof key, "%s\001%s", s->func, s->file ? s->file : "");
            size_t before = FS.n;
            uint64_t f = pb_str_intern(&FS, prof_arena_strdup(&FS.arena, key));
            if (FS.oom) {
                oom = true;
                break;
            }
            if (FS.n != before) { /* a new function */
                if (nfuncs == capfuncs) {
                    capfuncs = capfuncs ? capfuncs * 2 : 64;
                    pb_func *nf = realloc(funcs, capfuncs * sizeof *nf);
                    if (!nf) {
                        oom = true;
                        break;
                    }
                    funcs = nf;
                }
                funcs[nfuncs++] = (pb_func){s->func, s->file};
            }
            loc_func[id - 1] = (uint32_t)f + 1;
        }
    }
    for (size_t k = 0; !oom && k < nmods; k++) {
        const prof_mod *m = mods[k];
        bool funcs_known = false, lines = false;
        for (size_t j = 0; j < P->cap; j++)
            if (P->pcs[j] && P->syms[j]->mod == m) {
                funcs_known |= P->syms[j]->func != NULL;
                lines |= P->syms[j]->file != NULL;
            }
        pb_int(&m1, 1, k + 1);
        pb_int(&m1, 2, m->text_lo);
        pb_int(&m1, 3, m->text_hi);
        pb_int(&m1, 4, m->text_off);
        pb_int(&m1, 5, pb_str_intern(&S, m->path));
        pb_int(&m1, 7, funcs_known); /* has_functions: pprof need not symbolize */
        pb_int(&m1, 8, lines);
        pb_int(&m1, 9, lines);
        pb_msg(b, 3, &m1);
    }
    for (size_t i = 0; !oom && i < nloc; i++) {
        pb_int(&m1, 1, i + 1);
        pb_int(&m1, 2, loc_map[i]);
        pb_int(&m1, 3, loc_pc[i] - 1); /* within the call instruction, as pprof asks */
        if (loc_func[i]) {
            const prof_sym *s = prof_pcs_sym(P, loc_pc[i]);
            pb_int(&m2, 1, loc_func[i]);
            pb_int(&m2, 2, s->file ? (uint64_t)s->line : 0);
            pb_msg(&m1, 4, &m2);
        }
        pb_msg(b, 4, &m1);
    }
    for (int st = 0; !oom && st < 4; st++) {
        if (!(nostack & (1u << st))) continue;
        char name[64];
        snprintf(name, sizeof name, "[%s, no stack]", roost_task_state_name(st));
        pb_int(&m1, 1, nloc + 1 + (size_t)st);
        pb_int(&m2, 1, PB_NOSTACK_FUNC + (uint64_t)st);
        pb_msg(&m1, 4, &m2);
        pb_msg(b, 4, &m1);
        pb_int(&m1, 1, PB_NOSTACK_FUNC + (uint64_t)st);
        pb_int(&m1, 2, pb_str_intern(&S, prof_arena_strdup(&S.arena, name)));
        pb_msg(b, 5, &m1);
    }
    for (size_t i = 0; !oom && i < nfuncs; i++) {
        pb_int(&m1, 1, i + 1);
        pb_int(&m1, 2, pb_str_intern(&S, funcs[i].name));
        pb_int(&m1, 3, pb_str_intern(&S, funcs[i].name));
        pb_int(&m1, 4, pb_str_intern(&S, funcs[i].file));
        pb_msg(b, 5, &m1);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pb_int(b, 9, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    pb_value_type(b, &m1, 11, &S, "goroutine", "count");
    pb_int(b, 12, 1);
    /* The string table last: every string is interned by now. */
    for (size_t i = 0; i < S.n; i++) pb_bytes(b, 6, S.s[i], strlen(S.s[i]));
    if (S.oom || m1.oom || m2.oom) oom = true;

    free(G.g);
    free(S.s), free(S.slots), prof_arena_free(S.arena);
    free(FS.s), free(FS.slots), prof_arena_free(FS.arena);
    free(m1.p), free(m2.p);
    free(mods), free(funcs), free(loc_func), free(loc_map), free(loc_pc);
    return oom ? ROOST_ENOMEM : ROOST_OK;
}

/* ------------------------------------------------------------ entry points */

static int prof_take(int format, char **buf, size_t *len) {
    roost_task_info_t *v;
    size_t n;
    int rc = roost_tasks_snapshot(&v, &n, ROOST_SNAP_STACKS);
    if (rc) return rc;
    prof_sym_begin();
    prof_buf b = {0};
    prof_pcs P = {0};
    switch (format) {
    case ROOST_PROFILE_GROUPED: rc = prof_grouped(&b, v, n, &P); break;
    case ROOST_PROFILE_FULL: rc = prof_full(&b, v, n, &P); break;
    case ROOST_PROFILE_PPROF: rc = prof_pprof(&b, v, n, &P); break;
    default: rc = prof_json(&b, v, n, &P); break;
    }
    if (!rc && (b.oom || P.oom)) rc = ROOST_ENOMEM;
    prof_pcs_free(&P);
    free(v);
    if (rc) {
        free(b.p);
        return rc;
    }
    if (!b.p) prof_reserve(&b, 1); /* an empty profile is still a buffer to free */
    if (!b.p) return ROOST_ENOMEM;
    *buf = b.p, *len = b.len;
    return ROOST_OK;
}

typedef struct {
    int format;
    char **buf;
    size_t *len;
    int rc;
} prof_req;

static void *prof_take_main(void *arg) {
    prof_req *r = arg;
    r->rc = prof_take(r->format, r->buf, r->len);
    return NULL;
}

int roost_profile(int format, char **buf, size_t *len) {
    if (!buf || !len) return ROOST_EINVAL;
    *buf = NULL, *len = 0;
    if (format < ROOST_PROFILE_GROUPED || format > ROOST_PROFILE_JSON) return ROOST_EINVAL;
    prof_req r = {format, buf, len, ROOST_OK};
    prof_off_task(prof_take_main, &r);
    return r.rc;
}

static int prof_write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return ROOST_EINVAL; /* a bad or closed fd: the caller's argument */
        }
        p += w, n -= (size_t)w;
    }
    return ROOST_OK;
}

int roost_profile_write(int fd, int format) {
    if (fd < 0) return ROOST_EINVAL;
    char *buf;
    size_t len;
    int rc = roost_profile(format, &buf, &len);
    if (rc) return rc;
    rc = prof_write_all(fd, buf, len);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------ signals */

static struct {
    pthread_mutex_t lock;      /* starting the dumper */
    bool started;
    bool exit_after;           /* ROOST_SIGQUIT_EXIT=1 */
    _Atomic uint32_t req;      /* bumped by the handler; futex word */
    _Atomic int signo;         /* the last signal taken */
} PQ = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Async-signal-safe: an atomic add and a futex wake (one syscall), errno
 * kept. Everything else happens on the dumper thread. */
static void prof_on_signal(int signo) {
    int e = errno;
    atomic_store_explicit(&PQ.signo, signo, memory_order_relaxed);
    atomic_fetch_add_explicit(&PQ.req, 1, memory_order_release);
    roost__futex_wake(&PQ.req, 1);
    errno = e;
}

static void prof_dump(int signo) {
    char head[128];
    const char *name = signo == SIGQUIT ? "SIGQUIT: quit" : strsignal(signo);
    int n = snprintf(head, sizeof head, "%s\nroost: task dump (signal %d)\n", name ? name : "signal", signo);
    if (n > 0) prof_write_all(2, head, (size_t)n < sizeof head ? (size_t)n : sizeof head - 1);
    if (roost_profile_write(2, ROOST_PROFILE_FULL) != ROOST_OK) {
        static const char fail[] = "roost: task dump failed (out of memory)\n";
        prof_write_all(2, fail, sizeof fail - 1);
    }
    static const char end[] = "roost: end of task dump\n";
    prof_write_all(2, end, sizeof end - 1);
}

/* Blocked in the futex until a signal bumps req: no CPU, and detached, so
 * it never keeps the process from exiting (exit ends it wherever it is). */
static void *prof_dumper(void *unused) {
    (void)unused;
    uint32_t seen = 0;
    for (;;) {
        uint32_t now = atomic_load_explicit(&PQ.req, memory_order_acquire);
        if (now == seen) {
            roost__futex_wait(&PQ.req, seen, -1);
            continue;
        }
        seen = now;
        prof_dump(atomic_load_explicit(&PQ.signo, memory_order_relaxed));
        if (PQ.exit_after) exit(2); /* Go's status after a SIGQUIT dump */
    }
    return NULL;
}

/* Start the dumper once per process. Its thread has every signal blocked,
 * so the handler runs on some other thread and never interrupts a dump. */
static int prof_dumper_start(void) {
    pthread_mutex_lock(&PQ.lock);
    int rc = ROOST_OK;
    if (!PQ.started) {
        const char *e = getenv("ROOST_SIGQUIT_EXIT");
        PQ.exit_after = e && *e && strcmp(e, "0") != 0;
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_t at;
        pthread_t th;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &at, prof_dumper, NULL) == 0) {
            PQ.started = true;
            pthread_setname_np(th, "roost-dump");
        } else {
            rc = ROOST_ENOMEM;
        }
        pthread_attr_destroy(&at);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    pthread_mutex_unlock(&PQ.lock);
    return rc;
}

int roost_profile_on_signal(int signo) {
    if (!signo) signo = SIGQUIT;
    if (signo < 1 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP) return ROOST_EINVAL;
    int rc = prof_dumper_start();
    if (rc) return rc;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = prof_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* the program's system calls go on as if nothing happened */
    return sigaction(signo, &sa, NULL) == 0 ? ROOST_OK : ROOST_EINVAL;
}

/* Called at each runtime start (sched.c start_locked); acts once. The
 * default handler goes in only where SIGQUIT has its default action: a
 * handler the program installed stays, and so does SIG_IGN (a program
 * started in the background by a shell, or told to ignore it). */
static void prof_default_signal(void) {
    const char *e = getenv("ROOST_SIGQUIT");
    if (e && strcmp(e, "0") == 0) return;
    struct sigaction old;
    if (sigaction(SIGQUIT, NULL, &old) != 0) return;
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) return;
    roost_profile_on_signal(SIGQUIT);
}

void roost__profile_start(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, prof_default_signal);
}
