# Run at every build (the ipcm_revision target): writes OUT, the revision the build measures,
# but only when it changed, so that only env.cpp recompiles, and only after a commit. At
# configure time it would go stale: a build after a new commit without a reconfigure recorded
# the old revision in its results.
#   cmake -DSRC=<source dir> -DOUT=<header> -P git_revision.cmake
execute_process(COMMAND git -C ${SRC} rev-parse --short=12 HEAD
                OUTPUT_VARIABLE rev OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
execute_process(COMMAND git -C ${SRC} status --porcelain --untracked-files=no
                OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
set(date "")
if(rev)
  # The committer date orders results by the code they measured (scripts/history.py), in UTC
  # so that dates compare as text. A dirty tree keeps its HEAD's date: the revision says "-dirty".
  execute_process(COMMAND ${CMAKE_COMMAND} -E env TZ=UTC
                          git -C ${SRC} show -s --date=iso-strict-local --format=%cd HEAD
                  OUTPUT_VARIABLE date OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(dirty)
    string(APPEND rev "-dirty")
  endif()
endif()
set(text "// Written by cmake/git_revision.cmake at build time.\n#define IPCM_GIT_REVISION \"${rev}\"\n#define IPCM_GIT_COMMIT_DATE \"${date}\"\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
