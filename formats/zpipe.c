/* formats: a small thread pool compressing units in batches; results are
 * delivered in order.  Memory: SLOTS batches of BATCH units, input and
 * output, whatever the image size. */
#include <config.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "format-int.h"
#include "zpipe.h"

#define BATCH 16                /* units per job */

struct job {
  int state;                    /* 0 free, 1 queued, 2 working, 3 done */
  size_t n;
  uint64_t index[BATCH];
  size_t inlen[BATCH], outlen[BATCH];
  int stored[BATCH];
  uint8_t *in, *out;
};

struct zpipe {
  size_t unit, outcap;
  size_t stride;                /* headroom + outcap + tailroom */
  enum zpipe_mode mode;
  zpipe_out_fn out;
  void *opaque;
  int nthreads, slots;
  pthread_t *threads;
  pthread_mutex_t lock;
  pthread_cond_t work, done;
  struct job *jobs;
  int head;                     /* oldest job not yet delivered */
  int fill;                     /* job being filled */
  int next_work;                /* next queued job for a worker */
  int quit;
  int failed;
};

/* Per-thread deflate state, reused with deflateReset: a small fast stream
 * for the trial, and the real one. */
struct zctx {
  z_stream trial, main;
  uint8_t tbuf[4096 + 512];
};

static void
zctx_init (struct zctx *c, const struct zpipe *z)
{
  memset (c, 0, sizeof *c);
  if (deflateInit2 (&c->trial, 1, Z_DEFLATED, -12, 8, Z_DEFAULT_STRATEGY) != Z_OK
      || deflateInit2 (&c->main, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                       z->mode == ZPIPE_RAW ? -12 : 15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    abort ();
}

static void
zctx_end (struct zctx *c)
{
  deflateEnd (&c->trial);
  deflateEnd (&c->main);
}

/* A zlib stream of stored blocks (what deflate level 0 writes), built
 * directly: header, blocks of at most 65535 bytes, Adler-32. */
static size_t
zlib_stored (const uint8_t *in, size_t len, uint8_t *out)
{
  size_t o = 0;
  out[o++] = 0x78;
  out[o++] = 0x01;
  size_t i = 0;
  do {
    size_t n = len - i < 65535 ? len - i : 65535;
    out[o++] = i + n == len ? 1 : 0;          /* BFINAL, BTYPE 00 */
    out[o++] = n & 0xff;
    out[o++] = n >> 8;
    out[o++] = ~n & 0xff;
    out[o++] = (~n >> 8) & 0xff;
    memcpy (out + o, in + i, n);
    o += n;
    i += n;
  } while (i < len);
  uint32_t a = adler32 (adler32 (0, NULL, 0), in, len);
  out[o++] = a >> 24;
  out[o++] = a >> 16;
  out[o++] = a >> 8;
  out[o++] = a;
  return o;
}

/* Does this sample look like random (or already compressed) data?  Its
 * byte entropy, estimated from a histogram, is close to 8 bits. */
static int
looks_random (const uint8_t *p, size_t n)
{
  uint32_t h[256] = { 0 };
  for (size_t i = 0; i < n; ++i)
    h[p[i]]++;
  double e = 0;
  for (int i = 0; i < 256; ++i)
    if (h[i]) {
      double q = (double) h[i] / n;
      e -= q * log2 (q);
    }
  return e > 7.6;
}

/* Compress one unit; sets *stored when deflate does not pay. */
static size_t
compress_unit (const struct zpipe *z, struct zctx *c, const uint8_t *in,
               size_t len, uint8_t *out, int *stored)
{
  *stored = 0;
  /* Random data does not shrink: a byte histogram of the first 4 KiB spots
   * it cheaply; borderline data gets a quick deflate trial. */
  if (len >= 8192 && looks_random (in, 4096))
    *stored = 1;
  else if (len >= 8192) {
    deflateReset (&c->trial);
    c->trial.next_in = (uint8_t *) in;
    c->trial.avail_in = 4096;
    c->trial.next_out = c->tbuf;
    c->trial.avail_out = sizeof c->tbuf;
    if (deflate (&c->trial, Z_FINISH) == Z_STREAM_END
        && sizeof c->tbuf - c->trial.avail_out > 4096 - 64)
      *stored = 1;
  }
  if (*stored) {
    if (z->mode == ZPIPE_RAW) {
      memcpy (out, in, len);
      return len;
    }
    return zlib_stored (in, len, out);
  }
  deflateReset (&c->main);
  c->main.next_in = (uint8_t *) in;
  c->main.avail_in = len;
  c->main.next_out = out;
  c->main.avail_out = z->outcap;
  int r = deflate (&c->main, Z_FINISH);
  size_t n = z->outcap - c->main.avail_out;
  if (r != Z_STREAM_END)
    abort ();                   /* outcap is above deflateBound: cannot happen */
  if (n >= len) {               /* deflate did not pay after all */
    *stored = 1;
    if (z->mode == ZPIPE_RAW) {
      memcpy (out, in, len);
      return len;
    }
    return zlib_stored (in, len, out);
  }
  return n;
}

static void *
worker (void *arg)
{
  struct zpipe *z = arg;
  struct zctx *c = malloc (sizeof *c);
  if (!c)
    abort ();
  zctx_init (c, z);
  pthread_mutex_lock (&z->lock);
  for (;;) {
    while (!z->quit && z->jobs[z->next_work].state != 1)
      pthread_cond_wait (&z->work, &z->lock);
    if (z->quit)
      break;
    struct job *j = &z->jobs[z->next_work];
    z->next_work = (z->next_work + 1) % z->slots;
    j->state = 2;
    pthread_mutex_unlock (&z->lock);
    for (size_t i = 0; i < j->n; ++i)
      j->outlen[i] = compress_unit (z, c, j->in + i * z->unit, j->inlen[i],
                                    j->out + i * z->stride + ZPIPE_HEADROOM,
                                    &j->stored[i]);
    pthread_mutex_lock (&z->lock);
    j->state = 3;
    pthread_cond_broadcast (&z->done);
  }
  pthread_mutex_unlock (&z->lock);
  zctx_end (c);
  free (c);
  return NULL;
}

struct zpipe *
zpipe_new (int threads, size_t unit, enum zpipe_mode mode, zpipe_out_fn out,
           void *opaque)
{
  struct zpipe *z = calloc (1, sizeof *z);
  if (!z)
    abort ();
  if (threads < 1)
    threads = 1;
  if (threads > 64)
    threads = 64;
  z->unit = unit;
  z->outcap = compressBound (unit) + 64 + 5 * (unit / 65535 + 1);
  z->stride = ZPIPE_HEADROOM + z->outcap + ZPIPE_TAILROOM;
  z->mode = mode;
  z->out = out;
  z->opaque = opaque;
  z->nthreads = threads;
  z->slots = threads + 2;
  z->jobs = calloc (z->slots, sizeof *z->jobs);
  z->threads = calloc (threads, sizeof (pthread_t));
  if (!z->jobs || !z->threads)
    abort ();
  for (int i = 0; i < z->slots; ++i) {
    z->jobs[i].in = malloc (BATCH * unit);
    z->jobs[i].out = malloc (BATCH * z->stride);
    if (!z->jobs[i].in || !z->jobs[i].out)
      abort ();
  }
  pthread_mutex_init (&z->lock, NULL);
  pthread_cond_init (&z->work, NULL);
  pthread_cond_init (&z->done, NULL);
  for (int i = 0; i < threads; ++i)
    if (pthread_create (&z->threads[i], NULL, worker, z) != 0)
      abort ();
  return z;
}

/* Deliver the oldest job (waiting for it).  Called with the lock held. */
static int
deliver_head (struct zpipe *z)
{
  struct job *j = &z->jobs[z->head];
  while (j->state != 3)
    pthread_cond_wait (&z->done, &z->lock);
  pthread_mutex_unlock (&z->lock);
  for (size_t i = 0; i < j->n && !z->failed; ++i)
    if (z->out (z->opaque, j->index[i], j->out + i * z->stride + ZPIPE_HEADROOM,
                j->outlen[i],
                j->stored[i]) == -1)
      z->failed = 1;
  pthread_mutex_lock (&z->lock);
  j->state = 0;
  j->n = 0;
  z->head = (z->head + 1) % z->slots;
  return z->failed ? -1 : 0;
}

/* Queue the job being filled.  Lock held. */
static void
queue_fill (struct zpipe *z)
{
  struct job *j = &z->jobs[z->fill];
  if (j->n == 0)
    return;
  j->state = 1;
  z->fill = (z->fill + 1) % z->slots;
  pthread_cond_broadcast (&z->work);
}

int
zpipe_submit (struct zpipe *z, uint64_t index, const void *data, size_t len)
{
  int r = 0;
  pthread_mutex_lock (&z->lock);
  struct job *j = &z->jobs[z->fill];
  while (j->state != 0 && r == 0) {   /* every slot busy: deliver the oldest */
    r = deliver_head (z);
    j = &z->jobs[z->fill];
  }
  if (r == 0) {
    memcpy (j->in + j->n * z->unit, data, len);
    j->inlen[j->n] = len;
    j->index[j->n] = index;
    j->n++;
    if (j->n == BATCH)
      queue_fill (z);
  }
  pthread_mutex_unlock (&z->lock);
  return r;
}

int
zpipe_flush (struct zpipe *z)
{
  int r = 0;
  pthread_mutex_lock (&z->lock);
  queue_fill (z);
  while (r == 0 && z->jobs[z->head].state != 0)
    r = deliver_head (z);
  pthread_mutex_unlock (&z->lock);
  return r;
}

void
zpipe_free (struct zpipe *z)
{
  if (!z)
    return;
  pthread_mutex_lock (&z->lock);
  z->quit = 1;
  pthread_cond_broadcast (&z->work);
  pthread_mutex_unlock (&z->lock);
  for (int i = 0; i < z->nthreads; ++i)
    pthread_join (z->threads[i], NULL);
  for (int i = 0; i < z->slots; ++i) {
    free (z->jobs[i].in);
    free (z->jobs[i].out);
  }
  free (z->jobs);
  free (z->threads);
  pthread_mutex_destroy (&z->lock);
  pthread_cond_destroy (&z->work);
  pthread_cond_destroy (&z->done);
  free (z);
}
