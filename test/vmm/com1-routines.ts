// Serial output for the small test guests (GNU as, Intel syntax, 32-bit): puts (the NUL-
// terminated string at ESI), putc (AL) and puthex (EAX as eight hex digits), all on COM1.

export const COM1_ROUTINES = `
puts:
  lodsb
  test al, al
  jz 1f
  call putc
  jmp puts
1:
  ret
putc:
  push edx
  mov dx, 0x3f8
  out dx, al
  pop edx
  ret
puthex:
  push ecx
  mov ecx, 8
1:
  rol eax, 4
  push eax
  and al, 0xf
  add al, '0'
  cmp al, '9'
  jbe 2f
  add al, 'a' - '9' - 1
2:
  call putc
  pop eax
  loop 1b
  pop ecx
  ret
`;
