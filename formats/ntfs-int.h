/* formats: what ntfs.c (free clusters, MFT records) and ntfs-secure.c
 * ($Secure) share: a volume's geometry, run lists, MFT records and their
 * attributes, read through the image readers.  See ntfs.c for the layout
 * these follow.  Every function bound-checks what it reads; those that
 * take why fill it and return -1 on a malformed volume. */
#ifndef WINSEAL_NTFS_INT_H
#define WINSEAL_NTFS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "format.h"

#define AT_DATA 0x80u
#define AT_INDEX_ROOT 0x90u
#define AT_INDEX_ALLOCATION 0xA0u
#define AT_BITMAP 0xB0u
#define AT_END 0xFFFFFFFFu
#define REC_IN_USE 0x0001u

#define WHY(...) (snprintf (why, whylen, __VA_ARGS__), -1)

/* One decoded run: clusters [lcn, lcn + n) hold VCNs [vcn, vcn + n);
 * lcn is -1 for a sparse run. */
struct run { uint64_t vcn, n; int64_t lcn; };

/* A volume: its geometry and $MFT's runs. */
struct vol {
  struct image *img;
  uint64_t off, cs, rsz, clusters, total;
  uint32_t bps;
  uint8_t *rec0;                /* record 0, fixups applied */
  struct run *mruns;            /* $MFT's $DATA */
  size_t nmruns;
  uint64_t msize, minit, malloc_; /* its data, initialized, allocated sizes */
};

int decode_runs (const char *what, const uint8_t *p, size_t len, uint64_t clusters,
                 struct run **runs_ret, size_t *n_ret, char *why, size_t whylen);
/* len bytes at voff of an attribute through its runs (sparse: zeros). */
int runs_pread (struct vol *v, const struct run *r, size_t nr, uint64_t voff, uint8_t *buf,
                size_t len);
/* A FILE record's update sequence array: 0 and *uso, or -1. */
int record_check (const uint8_t *rec, uint64_t rsz, uint32_t *uso_ret);
/* restore 1: put back the bytes the sequence number replaced; 0: stamp. */
void record_fixup (uint8_t *rec, uint64_t rsz, uint32_t uso, int restore);
/* The attribute of a type, unnamed (name NULL) or of that ASCII name, or
 * NULL (*bad set when malformed); a pointer into rec. */
uint8_t *find_attr (const uint8_t *rec, uint64_t rsz, uint32_t type, const char *name,
                    uint32_t *alen_ret, int *bad);
int attr_runs (struct vol *v, const char *what, const uint8_t *a, uint32_t alen,
               struct run **runs, size_t *nruns, char *why, size_t whylen);
int attr_value (struct vol *v, const char *what, const uint8_t *a, uint32_t alen, uint64_t max,
                uint8_t **val, uint64_t *len, char *why, size_t whylen);
/* 1 when NTFS and sound so far, 0 when not NTFS, -1 with why. */
int vol_open (struct image *img, uint64_t off, uint64_t len, struct vol *v, char *why,
              size_t whylen);
void vol_close (struct vol *v);
/* Record n, in use, its fixups applied. */
int vol_record (struct vol *v, uint64_t n, uint8_t *rec, const char *what, char *why,
                size_t whylen);

#endif
