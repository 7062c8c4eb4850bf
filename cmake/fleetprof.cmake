# Shared build settings: the warnings target every fleetprof target links,
# the sanitizer switch, and fp_add_test() that registers one cmocka test.

add_library(fp_warnings INTERFACE)
target_compile_options(fp_warnings INTERFACE
	-Wall -Wextra -Wshadow -Wformat=2 -Wvla -Wno-format-nonliteral
	$<$<COMPILE_LANGUAGE:C>:-Wstrict-prototypes -Wmissing-prototypes>)
if(FP_WERROR)
	target_compile_options(fp_warnings INTERFACE -Werror)
endif()

if(FP_SANITIZE)
	string(REPLACE "," ";" fp_san_list "${FP_SANITIZE}")
	add_compile_options(-fsanitize=${FP_SANITIZE} -fno-omit-frame-pointer
		-fno-sanitize-recover=all)
	add_link_options(-fsanitize=${FP_SANITIZE})
endif()

# fp_add_test(NAME name SOURCES a.c b.c LIBS x y [LABELS l1 l2] [TIMEOUT s])
function(fp_add_test)
	cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
	add_executable(${T_NAME} ${T_SOURCES})
	target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} PkgConfig::CMOCKA
		fp_warnings)
	set_target_properties(${T_NAME} PROPERTIES
		RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
	add_test(NAME ${T_NAME} COMMAND ${T_NAME})
	if(NOT T_TIMEOUT)
		set(T_TIMEOUT 120)
	endif()
	set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
		LABELS "${T_LABELS}"
		ENVIRONMENT "FP_BIN_DIR=${CMAKE_BINARY_DIR}/bin;FP_SOURCE_DIR=${CMAKE_SOURCE_DIR};LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0")
endfunction()

# fp_embed(OUT file.c NAME symbol FILES a b …): compile files into a C array.
function(fp_embed)
	cmake_parse_arguments(E "" "OUT;NAME" "FILES" ${ARGN})
	add_custom_command(OUTPUT ${E_OUT}
		COMMAND ${CMAKE_COMMAND} -DOUT=${E_OUT} -DNAME=${E_NAME}
			"-DFILES=${E_FILES}" -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
		DEPENDS ${E_FILES} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
		COMMENT "Embedding ${E_NAME}" VERBATIM)
endfunction()

# fleetprof_instrument(target [ALL]): time every function of `target` with no
# source change (-finstrument-functions) and link the agent. Functions inlined
# from system headers (/usr/include: libc, the C++ standard library) are left
# out unless ALL is given; the agent itself is never instrumented.
function(fleetprof_instrument target)
	cmake_parse_arguments(I "ALL" "" "" ${ARGN})
	target_compile_options(${target} PRIVATE -finstrument-functions)
	if(NOT I_ALL)
		target_compile_options(${target} PRIVATE
			-finstrument-functions-exclude-file-list=/usr/include)
	endif()
	target_link_libraries(${target} PRIVATE fleetprof)
endfunction()
