// TILEFUSE_API marks what the shared library exports; everything else in it is hidden.
#ifndef TILEFUSE_EXPORT_H_
#define TILEFUSE_EXPORT_H_

#if defined(TILEFUSE_BUILDING_LIBRARY)
#define TILEFUSE_API __attribute__((visibility("default")))
#else
#define TILEFUSE_API
#endif

#endif  // TILEFUSE_EXPORT_H_
