//! PKCS#11 (HSM) backend: placeholder until the backend lands.
