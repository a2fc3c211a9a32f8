# refit_layer(NAME <target> DIR <dir> [DEPS <targets>...] [EXTERNAL <targets>...])
#
# One static library per layer (house style): the layer's *.cc files, except *_test.cc, form the
# library; its *_test.cc files form one GoogleTest executable registered with CTest. Layers link
# each other PRIVATE so a layer can only include what it names. Sources are globbed with
# CONFIGURE_DEPENDS so adding a file to a layer needs no CMake edit.
function(refit_layer)
  cmake_parse_arguments(L "" "NAME;DIR" "DEPS;EXTERNAL;TEST_DEPS" ${ARGN})
  file(GLOB _srcs CONFIGURE_DEPENDS ${L_DIR}/*.cc)
  file(GLOB _tests CONFIGURE_DEPENDS ${L_DIR}/*_test.cc)
  if(_tests)
    list(REMOVE_ITEM _srcs ${_tests})
  endif()
  add_library(${L_NAME} STATIC ${_srcs})
  target_include_directories(${L_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${L_NAME} PRIVATE ${L_DEPS} ${L_EXTERNAL})
  if(REFIT_BUILD_TESTS AND _tests)
    add_executable(${L_NAME}_test ${_tests})
    target_link_libraries(${L_NAME}_test PRIVATE ${L_NAME} ${L_DEPS} ${L_EXTERNAL} ${L_TEST_DEPS}
                          GTest::gtest GTest::gtest_main)
    target_compile_definitions(${L_NAME}_test PRIVATE
      REFIT_SOURCE_DIR="${PROJECT_SOURCE_DIR}" REFIT_BINARY_DIR="${PROJECT_BINARY_DIR}")
    add_test(NAME ${L_NAME}_test COMMAND ${L_NAME}_test)
    set_tests_properties(${L_NAME}_test PROPERTIES LABELS "unit")
  endif()
endfunction()
