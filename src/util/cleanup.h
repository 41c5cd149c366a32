/* winseal: cleanup attributes for locals (as libguestfs-common's
 * cleanups.h): the variable is released when it goes out of scope.  The
 * layers that own a library keep its cleanups (registry/hive.h:
 * CLEANUP_HIVEX_CLOSE; generalize/unattend.c: the libxml2 document). */
#ifndef WINSEAL_CLEANUP_H
#define WINSEAL_CLEANUP_H

void ws_cleanup_free (void *ptr);               /* free (*(void **) ptr) */
void ws_cleanup_fclose (void *ptr);             /* fclose, when not NULL */
void ws_cleanup_free_string_list (void *ptr);   /* free_string_list */
void ws_cleanup_close (void *ptr);              /* close, when >= 0 */
void ws_cleanup_json_put (void *ptr);           /* json_object_put */
#define CLEANUP_FREE __attribute__((cleanup (ws_cleanup_free)))
#define CLEANUP_FCLOSE __attribute__((cleanup (ws_cleanup_fclose)))
#define CLEANUP_FREE_STRING_LIST \
  __attribute__((cleanup (ws_cleanup_free_string_list)))
#define CLEANUP_CLOSE __attribute__((cleanup (ws_cleanup_close)))
#define CLEANUP_JSON_PUT __attribute__((cleanup (ws_cleanup_json_put)))

#endif
