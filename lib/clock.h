/* Clocks in milliseconds. */
#ifndef SCENEGEN_CLOCK_H
#define SCENEGEN_CLOCK_H

#include <stdint.h>

int64_t clock_wall_ms(void); /* Unix time in ms */
int64_t clock_mono_ms(void); /* monotonic, for intervals */

#endif
