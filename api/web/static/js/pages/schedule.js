// The schedule screen (being built): clinicians, device units and rooms as resources, in the location's zone.
export async function open() {}
