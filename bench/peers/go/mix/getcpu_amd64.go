package main

// sysGetcpu is getcpu(2)'s number on linux/amd64 (the syscall package does not name it).
const sysGetcpu = 309
