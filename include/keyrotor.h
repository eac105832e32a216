/*
 * keyrotor.h — vendor-defined PKCS#11 constants of the keyrotor module.
 *
 * Include after a standard pkcs11.h. This file is the one place C consumers
 * read keyrotor's vendor values from. Every value lives in the vendor range:
 * CKA_/CKM_/CKR_VENDOR_DEFINED | 0x4B520000 ("KR") + n.
 *
 * Versioned-key attributes and mechanisms (rotation, envelopes, rewrap)
 * arrive with the rotation feature; until then only the base is defined.
 */
#ifndef KEYROTOR_H
#define KEYROTOR_H

#define KEYROTOR_VENDOR_BASE 0x4B520000UL

#endif /* KEYROTOR_H */
