/*
 * C++ code for test_symbols (symcpp.cc): the address of ns::add, whose
 * mangled symbol _ZN2ns3addEii must come back demangled, and its line.
 */
#ifndef TEST_SYMCPP_H
#define TEST_SYMCPP_H

#ifdef __cplusplus
extern "C" {
#endif

const void *symcpp_add_addr(void);
int symcpp_add_line(void);

#ifdef __cplusplus
}
#endif

#endif
