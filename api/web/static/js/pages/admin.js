// The administrators' screens (being built): administrators only.
export async function open() {}
