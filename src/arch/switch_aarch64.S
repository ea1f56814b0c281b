/* switch_aarch64.S - context switch for AArch64 (AAPCS64).
 *
 * Saves what a callee must preserve: x19-x28, the frame pointer x29, the
 * link register x30, the low halves of v8-v15 (d8-d15), the stack pointer,
 * and FPCR (rounding mode and trap enables, the control word). Frame of a
 * switched-out context, 176 bytes from its saved sp:
 *   0: x19 x20 | 16: x21 x22 | 32: x23 x24 | 48: x25 x26 | 64: x27 x28
 *  80: x29 x30 | 96: d8 d9 | 112: d10 d11 | 128: d12 d13 | 144: d14 d15 | 160: fpcr
 */
    .text
    .globl roost__switch
    .hidden roost__switch
    .type roost__switch,%function
    .p2align 4
roost__switch:              /* void roost__switch(void **from_sp, void *to_sp) */
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldr x9, [sp, #160]
    msr fpcr, x9
    add sp, sp, #176
    ret
roost__switch_end:
    .size roost__switch,.-roost__switch

/* bool roost__switch_pc(uintptr_t pc): pc is in roost__switch, where the
 * stack pointer and the registers belong to two contexts at once. */
    .globl roost__switch_pc
    .hidden roost__switch_pc
    .type roost__switch_pc,%function
    .p2align 4
roost__switch_pc:
    .cfi_startproc
    adr x1, roost__switch
    adr x2, roost__switch_end
    cmp x0, x1
    ccmp x0, x2, #2, hs     /* pc >= start: compare with the end; else force "hs" (C set) */
    cset w0, lo
    ret
    .cfi_endproc
    .size roost__switch_pc,.-roost__switch_pc

/* First code a new task runs: x19 = entry, x20 = arg. */
    .globl roost__trampoline
    .hidden roost__trampoline
    .type roost__trampoline,%function
    .p2align 4
roost__trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov x29, #0
    mov x0, x20
    blr x19
    brk #0
    .cfi_endproc
    .size roost__trampoline,.-roost__trampoline

/* void *roost__ctx_init(void *stack_top, void (*entry)(void *), void *arg) */
    .globl roost__ctx_init
    .hidden roost__ctx_init
    .type roost__ctx_init,%function
    .p2align 4
roost__ctx_init:
    and x9, x0, #~15
    sub x9, x9, #176
    mov x10, #0
    mov x11, #0
    stp x1, x2, [x9, #0]        /* x19 = entry, x20 = arg */
    stp x10, x11, [x9, #16]
    stp x10, x11, [x9, #32]
    stp x10, x11, [x9, #48]
    stp x10, x11, [x9, #64]
    adr x12, roost__trampoline
    stp x10, x12, [x9, #80]     /* x29 = 0, x30 = trampoline */
    stp x10, x11, [x9, #96]
    stp x10, x11, [x9, #112]
    stp x10, x11, [x9, #128]
    stp x10, x11, [x9, #144]
    str x10, [x9, #160]         /* FPCR: round to nearest, no traps */
    mov x0, x9
    ret
    .size roost__ctx_init,.-roost__ctx_init

    .section .note.GNU-stack,"",%progbits
