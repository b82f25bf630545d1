/** The warehouse API is overloaded: worth retrying (see `retryOnExc` on `reserve_stock`). */
export class WarehouseBusyError extends Error {
  override name = "WarehouseBusyError";
}

/** The SKU does not exist: retrying cannot help, so it is not in `retryOnExc`. */
export class UnknownSkuError extends Error {
  override name = "UnknownSkuError";
}
