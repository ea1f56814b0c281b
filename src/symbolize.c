/* symbolize.c - return addresses to "function+0xoff (file:line)".
 *
 * The one idea: a profile of 100,000 tasks has a few dozen distinct pcs, so
 * every pc is symbolized once, through a process-wide cache, and the work
 * per pc may be slow. Symbols come from the ELF symbol table (.symtab, else
 * .dynsym) of each loaded module, read from its file once and kept sorted;
 * so static functions have names without -rdynamic, as long as the file is
 * not stripped. File and line come from DWARF through libdwfl (elfutils)
 * when the build found it (the Makefile links -ldw then); without it a
 * frame is "function+0xoff". Modules are found with dl_iterate_phdr; a
 * dlclose (its subs counter moved) drops the pc cache, and modules unloaded
 * keep their tables (a profile in flight may still point at their names),
 * so the caches only grow, by what distinct pcs and modules need. libdw
 * needs more stack than a task has, so a look-up from a task runs on a
 * short-lived plain thread (about 50 us, once per new pc).
 *
 * profile.c and pprof.c, which format profiles, use the cache directly
 * (symbolize.h) for the module and file of each frame.
 */
#include "internal.h"
#include "symbolize.h"
#include "hash.h"
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

/* ------------------------------------------------------------ arena (symbolize.h) */

void *roost__arena_alloc(roost__arena **head, size_t n) {
    n = (n + 15) & ~(size_t)15;
    roost__arena *b = *head;
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

const char *roost__arena_strdup(roost__arena **head, const char *s) {
    size_t n = strlen(s) + 1;
    char *p = roost__arena_alloc(head, n);
    if (p) memcpy(p, s, n);
    return p;
}

void roost__arena_free(roost__arena *b) {
    while (b) {
        roost__arena *n = b->next;
        free(b);
        b = n;
    }
}

/* ------------------------------------------------------------ modules */

typedef struct roost__fsym {
    uintptr_t addr; /* link-time address (add the module's bias) */
    uintptr_t size; /* 0 if the symbol table does not say */
    uint32_t name;  /* offset into the module's names */
} prof_fsym;

static struct {
    pthread_mutex_t lock;          /* everything below */
    roost__module *mods;           /* modules loaded now */
    roost__module *gone;           /* modules seen unloaded: kept, see the top */
    unsigned long long adds, subs; /* dl_iterate_phdr's counters at the last walk */
    bool walked;
    roost__sym **tab; /* pc cache: the symbols, in order of look-up */
    size_t cap, n;
    roost__index index; /* tab by pc */
    roost__arena *arena;
#ifdef PROF_LIBDW
    Dwfl *dwfl; /* reports every module of the process */
    bool dwfl_failed;
#endif
} syms = {.lock = PTHREAD_MUTEX_INITIALIZER};

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
static void prof_mod_load(roost__module *m) {
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
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym[i].st_shndx == SHN_UNDEF || !sym[i].st_value ||
            sym[i].st_name >= strsec->sh_size)
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
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym[i].st_shndx == SHN_UNDEF || !sym[i].st_value ||
            sym[i].st_name >= strsec->sh_size)
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
    bool first_only; /* just read the counters */
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
    for (roost__module *m = syms.mods; m; m = m->next)
        if (m->bias == info->dlpi_addr && m->lo == lo && m->hi == hi) {
            m->seen = true;
            return 0;
        }
    roost__module *m = roost__arena_alloc(&syms.arena, sizeof *m);
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
    m->path = roost__arena_strdup(&syms.arena, name);
    free(exe);
    if (!m->path) m->path = "";
    const char *slash = strrchr(m->path, '/');
    m->base = slash ? slash + 1 : m->path;
    m->seen = true;
    m->next = syms.mods;
    syms.mods = m;
    return 0;
}

static void prof_cache_clear(void) {
    roost__index_clear(&syms.index);
    syms.n = 0;
#ifdef PROF_LIBDW
    if (syms.dwfl) dwfl_end(syms.dwfl);
    syms.dwfl = NULL;
    syms.dwfl_failed = false;
#endif
}

/* Bring the module list up to date, if the loader's counters moved since
 * the last walk. With syms.lock held. One short dl_iterate_phdr call when
 * nothing changed (it stops at the first module). */
static bool prof_mods_stale(prof_walk *w) {
    w->first_only = true;
    dl_iterate_phdr(prof_phdr_cb, w);
    return !syms.walked || w->adds != syms.adds || w->subs != syms.subs;
}

static void prof_mods_refresh(void) {
    prof_walk w = {0};
    if (!prof_mods_stale(&w)) return;
    bool unloaded = syms.walked && w.subs != syms.subs;
    for (roost__module *m = syms.mods; m; m = m->next) m->seen = false;
    w.first_only = false;
    dl_iterate_phdr(prof_phdr_cb, &w);
    /* Modules not met again were unloaded: their range may be reused, so
     * move them aside (not freed: cached names may still be in use) and
     * forget every pc symbolized so far. */
    for (roost__module **pm = &syms.mods; *pm;) {
        roost__module *m = *pm;
        if (m->seen) {
            pm = &m->next;
            continue;
        }
        *pm = m->next;
        m->next = syms.gone;
        syms.gone = m;
        unloaded = true;
    }
    if (unloaded || (syms.walked && w.adds != syms.adds)) prof_cache_clear();
    if (!w.oom) syms.adds = w.adds, syms.subs = w.subs, syms.walked = true;
}

static roost__module *prof_mod_at(uintptr_t pc) {
    for (roost__module *m = syms.mods; m; m = m->next)
        if (pc >= m->lo && pc < m->hi) return m;
    return NULL;
}

/* The function containing link-time address a in m, or NULL. */
static const prof_fsym *prof_mod_func(roost__module *m, uintptr_t a) {
    if (!m->loaded) prof_mod_load(m);
    if (!m->syms) return NULL; /* unreadable, or no function symbols */
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
static void prof_lines(uintptr_t a, roost__sym *s) {
    if (!syms.dwfl && !syms.dwfl_failed) {
        syms.dwfl = dwfl_begin(&prof_dwfl_cb);
        if (syms.dwfl && (dwfl_linux_proc_report(syms.dwfl, getpid()) != 0 ||
                          dwfl_report_end(syms.dwfl, NULL, NULL) != 0)) {
            dwfl_end(syms.dwfl);
            syms.dwfl = NULL;
        }
        syms.dwfl_failed = !syms.dwfl;
    }
    if (!syms.dwfl) return;
    Dwfl_Module *mod = dwfl_addrmodule(syms.dwfl, a);
    Dwfl_Line *l = mod ? dwfl_module_getsrc(mod, a) : NULL;
    int line = 0;
    const char *file = l ? dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL) : NULL;
    if (!file) return;
    /* Copied: the Dwfl is rebuilt when modules change, and its strings go. */
    s->file = roost__arena_strdup(&syms.arena, file);
    s->line = line;
}
#endif

/* pc, symbolized, from the cache or now. pc is taken as a return address:
 * the call is the instruction before it, so pc - 1 is what is looked up
 * (a call that ends a function returns to the next one's first byte). With
 * syms.lock held. NULL only when out of memory. */
static bool sym_eq(size_t i, void *pc) { return syms.tab[i]->pc == *(uintptr_t *)pc; }

static uint64_t sym_hash_of(size_t i, void *unused) {
    (void)unused;
    return roost__hash_ptr(syms.tab[i]->pc);
}

static roost__sym *prof_sym_probe(uintptr_t pc) {
    if (!syms.n) return NULL;
    uint32_t k = *roost__index_find(&syms.index, roost__hash_ptr(pc), sym_eq, &pc);
    return k ? syms.tab[k - 1] : NULL;
}

static const roost__sym *prof_sym_locked(uintptr_t pc) {
    roost__sym *s = prof_sym_probe(pc);
    if (s) return s;
    if (!roost__index_reserve(&syms.index, syms.n, sym_hash_of, NULL)) return NULL;
    if (syms.n == syms.cap) {
        size_t cap = syms.cap ? syms.cap * 2 : 256;
        roost__sym **t = realloc(syms.tab, cap * sizeof *t);
        if (!t) return NULL;
        syms.tab = t, syms.cap = cap;
    }
    s = roost__arena_alloc(&syms.arena, sizeof *s);
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    s->pc = pc;
    uintptr_t a = pc ? pc - 1 : 0;
    roost__module *m = prof_mod_at(a);
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
    *roost__index_find(&syms.index, roost__hash_ptr(pc), sym_eq, &pc) = (uint32_t)syms.n + 1;
    syms.tab[syms.n++] = s;
    return s;
}

/* Run fn(arg) on a stack deep enough for it. A task's stack is small (64
 * KiB by default, 16 KiB at the least) and reading DWARF with libdw alone
 * can take more, so a task hands the work to a plain thread and waits for
 * it: some 50 us for the thread, paid only where symbols are missed (a
 * cache miss) or a whole profile is taken. The task's worker waits too, as
 * it would while doing the work itself. */
void roost__off_task(void *(*fn)(void *), void *arg) {
    pthread_t th;
    if (roost__self() && roost__thread_start(&th, fn, arg, "roost-symbols", false) == 0) {
        pthread_join(th, NULL);
        return;
    }
    fn(arg);
}

/* For a batch of look-ups (one profile): bring the modules up to date once. */
void roost__sym_begin(void) {
    pthread_mutex_lock(&syms.lock);
    prof_mods_refresh();
    pthread_mutex_unlock(&syms.lock);
}

const roost__sym *roost__sym_get(uintptr_t pc) {
    pthread_mutex_lock(&syms.lock);
    const roost__sym *s = prof_sym_locked(pc);
    pthread_mutex_unlock(&syms.lock);
    return s;
}

size_t roost__sym_peek(const uintptr_t *pcs, const roost__sym **out, size_t n) {
    prof_walk w = {0};
    size_t miss = 0;
    pthread_mutex_lock(&syms.lock);
    bool stale = prof_mods_stale(&w);
    for (size_t i = 0; i < n; i++) {
        out[i] = stale ? NULL : prof_sym_probe(pcs[i]);
        miss += !out[i];
    }
    pthread_mutex_unlock(&syms.lock);
    return miss;
}

/* "function+0xoff (file:line)", "module+0xoff", or "0x..." */
size_t roost__sym_format(const roost__sym *s, uintptr_t pc, char *buf, size_t size) {
    if (!size) return 0;
    int n;
    if (s && s->func && s->file)
        n = snprintf(buf, size, "%s+%#lx (%s:%d)", s->func, (unsigned long)s->off, s->file, s->line);
    else if (s && s->func)
        n = snprintf(buf, size, "%s+%#lx", s->func, (unsigned long)s->off);
    else if (s && s->mod)
        n = snprintf(buf, size, "%s+%#lx%s%s%s", s->mod->base, (unsigned long)s->off, s->file ? " (" : "",
                     s->file ? s->file : "", s->file ? ")" : "");
    else
        n = snprintf(buf, size, "%#lx", (unsigned long)pc);
    if (n < 0) n = 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

typedef struct {
    uintptr_t pc;
    const roost__sym *s;
} prof_sym_req;

static void *prof_sym_fill(void *arg) {
    prof_sym_req *r = arg;
    pthread_mutex_lock(&syms.lock);
    prof_mods_refresh();
    r->s = prof_sym_locked(r->pc);
    pthread_mutex_unlock(&syms.lock);
    return NULL;
}

size_t roost_symbolize(uintptr_t pc, char *buf, size_t size) {
    if (!buf) return 0;
    /* A hit costs the lock, a probe and a short dl_iterate_phdr (is the
     * module list as it was?); a miss does the work off the task stack. */
    prof_walk w = {0};
    pthread_mutex_lock(&syms.lock);
    const roost__sym *s = prof_mods_stale(&w) ? NULL : prof_sym_probe(pc);
    pthread_mutex_unlock(&syms.lock);
    if (!s) {
        prof_sym_req r = {pc, NULL};
        roost__off_task(prof_sym_fill, &r);
        s = r.s;
    }
    return roost__sym_format(s, pc, buf, size);
}
