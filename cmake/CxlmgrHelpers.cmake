# cxlmgr_add_library(NAME SOURCES... [LINK libs...]) : a layer library rooted at the project root,
# so includes read "pci/config_space.hpp".
function(cxlmgr_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINK" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_LINK} PRIVATE cxlmgr_warnings)
endfunction()

# cxlmgr_add_test(NAME SOURCES... [LINK libs...] [LABELS labels...]) : a GoogleTest executable
# whose tests ctest lists one by one.
function(cxlmgr_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINK;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LINK} GTest::gtest GTest::gmock GTest::gtest_main
                        cxlmgr_warnings)
  set(labels unit)
  if(ARG_LABELS)
    set(labels ${ARG_LABELS})
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 120 PROPERTIES LABELS "${labels}" TIMEOUT 300)
endfunction()

# cxlmgr_add_fuzzer(NAME SOURCE [LINK libs...] CORPUS dir)
# Always builds NAME_regression, which feeds every file of the seed corpus to
# LLVMFuzzerTestOneInput and is run by ctest; with CXLMGR_FUZZ (clang) also builds the libFuzzer
# binary NAME for long runs (see docs/FUZZING.md).
function(cxlmgr_add_fuzzer name)
  cmake_parse_arguments(ARG "" "SOURCE;CORPUS" "LINK" ${ARGN})
  add_executable(${name}_regression ${ARG_SOURCE} ${PROJECT_SOURCE_DIR}/tests/fuzz/regression_main.cpp)
  target_link_libraries(${name}_regression PRIVATE ${ARG_LINK} cxlmgr_warnings)
  add_test(NAME fuzz_regression.${name} COMMAND ${name}_regression ${ARG_CORPUS})
  set_tests_properties(fuzz_regression.${name} PROPERTIES LABELS "fuzz;unit" TIMEOUT 300)
  if(CXLMGR_FUZZ)
    add_executable(${name} ${ARG_SOURCE})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE ${ARG_LINK})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz)
  endif()
endfunction()
