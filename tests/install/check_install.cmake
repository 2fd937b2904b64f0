# `cmake --install BUILD_DIR --prefix /usr` into a fresh DESTDIR, then compares the installed
# files (and symlinks) with EXPECTED, one absolute path a line, and checks what the installed
# pieces say about each other. Fails naming every missing and every unexpected file.
#   cmake -DBUILD_DIR=... -DEXPECTED=... -DDESTDIR=... -P check_install.cmake
foreach(var BUILD_DIR EXPECTED DESTDIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_install.cmake needs -D${var}=...")
  endif()
endforeach()

file(REMOVE_RECURSE ${DESTDIR})
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env DESTDIR=${DESTDIR} ${CMAKE_COMMAND} --install ${BUILD_DIR}
          --prefix /usr
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc}):\n${out}\n${err}")
endif()

file(GLOB_RECURSE installed LIST_DIRECTORIES false RELATIVE ${DESTDIR} ${DESTDIR}/*)
list(TRANSFORM installed PREPEND /)
list(SORT installed)

file(STRINGS ${EXPECTED} expected REGEX "^/")
list(SORT expected)

set(missing ${expected})
list(REMOVE_ITEM missing ${installed})
set(unexpected ${installed})
list(REMOVE_ITEM unexpected ${expected})
set(problems "")
foreach(f ${missing})
  string(APPEND problems "  missing:    ${f}\n")
endforeach()
foreach(f ${unexpected})
  string(APPEND problems "  unexpected: ${f}\n")
endforeach()

# What the pieces say about each other, read from the installed files themselves.
function(check_line file regex what)
  file(STRINGS ${DESTDIR}${file} lines REGEX "${regex}")
  if(NOT lines)
    set(problems "${problems}  ${file}: no line matches '${regex}' (${what})\n" PARENT_SCOPE)
  endif()
endfunction()
set(unit /lib/systemd/system/cxlmgrd.service)
if(EXISTS ${DESTDIR}${unit})
  check_line(${unit} "^ExecStart=/usr/sbin/cxlmgrd --config=/etc/cxlmgr/cxlmgrd.json$"
             "the installed daemon and configuration")
  check_line(${unit} "^BusName=org.cxlmgr1$" "the name of the policy and activation files")
endif()
set(activation /usr/share/dbus-1/system-services/org.cxlmgr1.service)
if(EXISTS ${DESTDIR}${activation})
  check_line(${activation} "^SystemdService=cxlmgrd.service$" "the installed unit")
  check_line(${activation} "^Name=org.cxlmgr1$" "the bus name")
endif()
foreach(exe /usr/sbin/cxlmgrd /usr/bin/cxlmgrctl)
  if(EXISTS ${DESTDIR}${exe})
    file(GET_RUNTIME_DEPENDENCIES EXECUTABLES ${DESTDIR}${exe} RESOLVED_DEPENDENCIES_VAR libs
         UNRESOLVED_DEPENDENCIES_VAR unresolved)
    if(unresolved)
      string(APPEND problems "  ${exe}: unresolved libraries ${unresolved}\n")
    endif()
    execute_process(COMMAND test -x ${DESTDIR}${exe} RESULT_VARIABLE not_exec)
    if(NOT not_exec EQUAL 0)
      string(APPEND problems "  ${exe}: not executable\n")
    endif()
  endif()
endforeach()

if(problems)
  list(JOIN installed "\n  " installed_text)
  message(FATAL_ERROR "the installed files differ from ${EXPECTED}:\n${problems}"
                      "installed:\n  ${installed_text}\n"
                      "(if a change is intended, update ${EXPECTED})")
endif()
list(LENGTH installed n)
message(STATUS "${n} files installed, as expected")
