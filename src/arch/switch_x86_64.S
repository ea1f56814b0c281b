/* switch_x86_64.S - context switch for x86_64 (System V ABI).
 *
 * Saves exactly what the ABI says a callee must preserve: rbx, rbp, r12-r15,
 * the stack pointer, the MXCSR control bits and the x87 control word. Stack
 * layout of a switched-out context, from its saved sp upwards:
 *
 *   sp+0   MXCSR (4 bytes) | x87 control word (2 bytes) | pad
 *   sp+8   r15   sp+16 r14   sp+24 r13   sp+32 r12   sp+40 rbx   sp+48 rbp
 *   sp+56  return address
 */
    .text
    .globl roost__switch
    .hidden roost__switch
    .type roost__switch,@function
    .p2align 4
roost__switch:              /* void roost__switch(void **from_sp, void *to_sp) */
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
roost__switch_end:
    .cfi_endproc
    .size roost__switch,.-roost__switch

/* bool roost__switch_pc(uintptr_t pc): pc is in roost__switch, where the
 * stack pointer and the registers belong to two contexts at once. */
    .globl roost__switch_pc
    .hidden roost__switch_pc
    .type roost__switch_pc,@function
    .p2align 4
roost__switch_pc:
    .cfi_startproc
    xorl %eax, %eax
    leaq roost__switch(%rip), %rcx
    cmpq %rcx, %rdi
    jb 1f
    leaq roost__switch_end(%rip), %rcx
    cmpq %rcx, %rdi
    setb %al
1:  ret
    .cfi_endproc
    .size roost__switch_pc,.-roost__switch_pc

/* First code a new task runs: r12 = entry, r13 = arg. The entry never
 * returns; the undefined return address ends debugger backtraces here. */
    .globl roost__trampoline
    .hidden roost__trampoline
    .type roost__trampoline,@function
    .p2align 4
roost__trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %r13, %rdi
    callq *%r12
    ud2
    .cfi_endproc
    .size roost__trampoline,.-roost__trampoline

/* void *roost__ctx_init(void *stack_top, void (*entry)(void *), void *arg) */
    .globl roost__ctx_init
    .hidden roost__ctx_init
    .type roost__ctx_init,@function
    .p2align 4
roost__ctx_init:
    .cfi_startproc
    movq %rdi, %rax
    andq $-16, %rax             /* 16-byte aligned top */
    movq $0, -8(%rax)
    movq $0, -16(%rax)
    leaq roost__trampoline(%rip), %rcx
    movq %rcx, -24(%rax)        /* ret lands here with rsp = top-16, aligned for the call */
    movq $0, -32(%rax)          /* rbp */
    movq $0, -40(%rax)          /* rbx */
    movq %rsi, -48(%rax)        /* r12 = entry */
    movq %rdx, -56(%rax)        /* r13 = arg */
    movq $0, -64(%rax)          /* r14 */
    movq $0, -72(%rax)          /* r15 */
    movl $0x1F80, -80(%rax)     /* default MXCSR */
    movw $0x037F, -76(%rax)     /* default x87 control word */
    movw $0, -74(%rax)
    subq $80, %rax
    ret
    .cfi_endproc
    .size roost__ctx_init,.-roost__ctx_init

    .section .note.GNU-stack,"",@progbits
