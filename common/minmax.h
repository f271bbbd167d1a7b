/* SPDX-License-Identifier: BSD-3-Clause */
/* MIN and MAX that evaluate each argument once. */
#ifndef IMAGEIO_MINMAX_H
#define IMAGEIO_MINMAX_H

#undef MIN
#define MIN(a, b)                                                              \
  ({                                                                           \
    __typeof__ (a) min_a_ = (a);                                               \
    __typeof__ (b) min_b_ = (b);                                               \
    min_a_ < min_b_ ? min_a_ : min_b_;                                         \
  })
#undef MAX
#define MAX(a, b)                                                              \
  ({                                                                           \
    __typeof__ (a) max_a_ = (a);                                               \
    __typeof__ (b) max_b_ = (b);                                               \
    max_a_ > max_b_ ? max_a_ : max_b_;                                         \
  })

#endif
