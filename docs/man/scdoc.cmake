# cmake -DSCDOC=... -DGZIP=... -DINPUT=page.scd -DOUTPUT=page -DVERSION=x.y.z -P scdoc.cmake
# Substitutes @PROJECT_VERSION@ in INPUT, renders it with scdoc into OUTPUT and compresses a copy
# into OUTPUT.gz (gzip -9n: no name or time stamp, so the same page gives the same bytes). A page
# scdoc rejects fails the build and leaves no output behind.
file(READ ${INPUT} text)
string(REPLACE "@PROJECT_VERSION@" "${VERSION}" text "${text}")
file(WRITE ${OUTPUT}.scd "${text}")
execute_process(COMMAND ${SCDOC} INPUT_FILE ${OUTPUT}.scd OUTPUT_FILE ${OUTPUT}.tmp
                ERROR_VARIABLE errors RESULT_VARIABLE status)
file(REMOVE ${OUTPUT}.scd)
if(NOT status EQUAL 0)
  file(REMOVE ${OUTPUT}.tmp ${OUTPUT} ${OUTPUT}.gz)
  message(FATAL_ERROR "scdoc failed on ${INPUT}: ${errors}")
endif()
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
execute_process(COMMAND ${GZIP} -9n -c ${OUTPUT} OUTPUT_FILE ${OUTPUT}.gz RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  file(REMOVE ${OUTPUT}.gz)
  message(FATAL_ERROR "gzip failed on ${OUTPUT}")
endif()
